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
# # MFAGAN Fig. 6 — PatchGAN vs ESRGAN discriminator
#
# Cheng et al., *MFAGAN*, Sec. 4.3 "Effectiveness of discriminator": MFAGAN.L (MFANet-64, Eq. (1)) trained
# with the 7-layer PatchGAN and with ESRGAN's VGG-style discriminator; validation PSNR over iterations. The
# paper's claim: the PatchGAN gives better and steadier PSNR. Every run starts from the same L1-pre-trained
# MFANet (the first seed's): the figure compares discriminators, so the seeds of `mfagan.fig6_seeds` vary the
# GAN stage (D's initialisation, the batches) and we draw their spread (our assumption; the paper is silent).
# At `mini` the networks are half-width, the schedule is short and validation is the profile's val split.

# %% tags=["parameters"]
profile = None  # None: $SRLIB_PROFILE, else "mini"
overrides = {}  # dotted profile keys, e.g. {"mfagan.fig6_iters": 300}

# %%
import srlib.notebook as nb

cfg = nb.setup(globals(), ["profile", "overrides"])

# %%
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from srlib import report, results
from srlib.mfagan import experiments

runs = experiments.fig6(cfg)
curves = experiments.fig6_curves(runs)
curves.pivot_table(index="step", columns=["discriminator", "seed"], values="val_psnr").round(3)

# %%
fig, ax = plt.subplots(figsize=(7, 4))
sns.lineplot(data=curves, x="step", y="val_psnr", hue="discriminator", errorbar=("pi", 100), ax=ax)
ax.set(xlabel="GAN iteration", ylabel="validation PSNR (dB, Y)",
       title=f"MFAGAN.L with two discriminators ({len(cfg.mfagan.fig6_seeds)} seeds; band = min-max)")
print(nb.save_figure(fig, "mfagan_fig6", cfg).name)

# %%
rows = []
for (disc, seed), g in curves.groupby(["discriminator", "seed"]):
    g = g.sort_values("step")
    for metric, value, unit in (("final_val_psnr", g.val_psnr.iloc[-1], "dB"),
                                ("val_psnr_std_over_steps", g.val_psnr.std(ddof=0), "dB")):
        rows.append(results.row(paper="mfagan", table="fig6", model=f"mfagan_l_{disc}", dataset=cfg.data.val_set,
                                metric=metric, value=value, unit=unit, profile=cfg.name, seed=int(seed),
                                stage=runs[(disc, seed)].name))
tab = results.frame(rows)
results.write_table("mfagan_discriminator", rows, cfg.name)
tab.pivot_table(index="seed", columns=["model", "metric"], values="value").round(3)

# %% [markdown]
# ## Claims

# %%
fin = tab[tab.metric == "final_val_psnr"].pivot_table(index="seed", columns="model", values="value")
std = tab[tab.metric == "val_psnr_std_over_steps"].pivot_table(index="seed", columns="model", values="value")
claims = [report.Claim("mfagan", "PatchGAN gives better PSNR than ESRGAN's discriminator (Fig. 6)",
                       *report.verdict(fin["mfagan_l_patchgan"], fin["mfagan_l_esrgan"], True, unit="dB")),
          report.Claim("mfagan", "PatchGAN gives steadier PSNR (smaller fluctuation over iterations)",
                       *report.verdict(std["mfagan_l_patchgan"], std["mfagan_l_esrgan"], False, unit="dB"))]
report.write_claims("mfagan_discriminator", claims, cfg.name)
report.claims_frame(claims)

# %%
assert curves.val_psnr.notna().all() and len(curves.seed.unique()) == len(cfg.mfagan.fig6_seeds)
print(f"{len(curves)} validation points over {len(runs)} runs; claims: " + ", ".join(c.verdict for c in claims))
