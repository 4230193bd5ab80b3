# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: srlib (.venv)
#     language: python
#     name: srlib
# ---

# %% [markdown]
# # 00 — Data and metrics
#
# What the profile's data is, the bicubic baseline on each evaluation set, and the metric conventions
# the four papers use, shown on one example. Every number below is measured by this run; the papers'
# own numbers live in `srlib/reference/` and appear only in "paper" columns of later notebooks.
#
# **Conventions** (shared/notes/conventions.md): HR cropped to a multiple of the scale; LR = MATLAB
# bicubic (antialiased) 1/4, rounded to 8 bits; PSNR/SSIM on Y of ITU-R BT.601 (MATLAB constants) with
# `scale` pixels shaved from every border, float64; SR outputs rounded to 8 bits first (as saved PNGs);
# SSIM with an 11x11 Gaussian window (sigma 1.5), valid region. LPIPS v0.1 needs ImageNet backbone
# weights that cannot be downloaded offline: then it is reported as *unavailable*, with the reason.
#
# At the `paper` profile a sanity check for the reader: bicubic x4 on Set5 is commonly reported as
# 28.42 dB / 0.8104 (Y, shave 4) in the SR literature (e.g. the EDSR and RCAN tables).

# %% tags=["parameters"]
profile = None  # None: $SRLIB_PROFILE, else "mini"
overrides = {}  # dotted profile keys, e.g. {"data.max_eval_hr": 128}

# %%
import srlib.notebook as nb

cfg = nb.setup(globals(), ["profile", "overrides"])

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from srlib import data, io, results
from srlib.metrics import stages

# %% [markdown]
# ## The profile's data

# %%
sets = {"train": data.train_pairs(cfg), "val": data.val_pairs(cfg), **data.test_sets(cfg)}
summary = pd.DataFrame([
    {"split": split, "image": p.name, "HR": "x".join(map(str, p.hr.shape[:2])),
     "LR": "x".join(map(str, p.lr.shape[:2]))}
    for split, pairs in sets.items() for p in pairs])
print(f"source: {cfg.data.source}; scale x{cfg.data.scale}; training patches {cfg.data.lr_patch}x{cfg.data.lr_patch} LR, "
      f"batch {cfg.data.batch_size}; evaluation HR centre-cropped to {cfg.data.max_eval_hr or 'full size'}")
summary

# %%
test_pairs = [p for name in cfg.data.test_sets for p in sets[name]]
fig, axes = plt.subplots(len(test_pairs), 3, figsize=(9, 3 * len(test_pairs)), squeeze=False)
from srlib.models.bicubic import Bicubic
for row, p in zip(axes, test_pairs):
    lr, hr = p.tensors()
    bic = Bicubic(cfg.data.scale)(lr).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    for ax, img, title in zip(row, (p.lr, bic, p.hr), ("LR (nearest display)", "bicubic x4", "HR")):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(f"{p.name}: {title}", fontsize=9)
        ax.axis("off")
fig.tight_layout()
print(nb.save_figure(fig, "data_pairs", cfg).name)

# %% [markdown]
# ## Bicubic baseline (a cached stage: a re-run reads it)

# %%
baseline = stages.bicubic_baseline(cfg)
base_rows = io.read_json(baseline.path(baseline["rows"]))
base = results.frame(base_rows)
base.pivot_table(index="dataset", columns="metric", values="value", dropna=False)

# %%
missing = base[base.value.isna()][["dataset", "metric", "note"]]
missing

# %% [markdown]
# ## Metric conventions on one example
# The same bicubic output scored under each convention: Y vs RGB, shave vs none, 8-bit vs float.
# The papers' numbers are Y, shave = scale, 8-bit (the first row).

# %%
example = test_pairs[0]
conv = results.frame(stages.convention_rows(cfg, example))
conv[["metric", "value", "note"]]

# %%
psnr_rows = conv[conv.metric.str.startswith("psnr")].copy()
psnr_rows["convention"] = psnr_rows.metric.str.replace("psnr_", "")
fig, ax = plt.subplots(figsize=(7, 3))
sns.barplot(data=psnr_rows, y="convention", x="value", ax=ax, color="tab:blue")
ax.set_xlabel("PSNR (dB)")
ax.set_xlim(psnr_rows.value.min() - 1, psnr_rows.value.max() + 0.5)
ax.set_title(f"bicubic x{cfg.data.scale} on {example.name}: one image, eight PSNRs")
print(nb.save_figure(fig, "metric_conventions", cfg).name)

# %%
table_path = results.write_table(stages.TABLE, base_rows + list(conv.to_dict("records")), cfg.name)
print("wrote", table_path.relative_to(cfg.results_dir.parent.parent))

# %% [markdown]
# ## Checks
# Not a paper claim: the conventions must behave as defined. Each check raises if it fails.

# %%
measured = base.dropna(subset=["value"])
psnr_vals = measured[measured.metric == "psnr"].value
ssim_vals = measured[measured.metric == "ssim"].value
assert psnr_vals.between(15, 50).all(), psnr_vals
assert ssim_vals.between(0, 1).all(), ssim_vals
c = conv.set_index("metric").value
s = cfg.data.scale
assert abs(c[f"psnr_y_shave{s}_8bit"] - c[f"psnr_y_shave{s}_float"]) < 0.1, "8-bit rounding moved PSNR by >0.1 dB"
assert (base[base.metric.str.startswith("lpips")].value.isna() ==
        base[base.metric.str.startswith("lpips")].note.str.contains("unavailable")).all()
print(f"checks passed: {len(psnr_vals)} PSNR and {len(ssim_vals)} SSIM values in range; "
      f"{base.value.isna().sum()} values unavailable, each with its reason")
