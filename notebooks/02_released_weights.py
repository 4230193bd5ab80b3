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
# # 02 — The authors' released checkpoints, through our pipeline
#
# Before trusting a retrained number, run the authors' own checkpoints through our evaluation: their files
# (TPSR-NOGAN / TPSR-ESRGAN / TPSR-D2, CARN-M, FMEN and RFDN from the NTIRE 2022 ESR repository; ESRGAN placed
# by the user) are mapped onto our modules with a strict load -- every tensor used, every shape equal -- and
# measured on every test set of the profile beside bicubic and beside the papers' printed numbers. The table,
# its checksums and key formats: `python -m srlib.weights list` and `srlib/weights/released.py`.
#
# - A file that is absent is a row with an empty value and the command that fetches it
#   (`python -m srlib.weights fetch NAME`); ESRGAN's files are on Google Drive, so the row says where to place them.
# - At `mini`/`smoke` the test split is the scikit-image photos, not Set5: ours and the printed numbers are
#   shown side by side with their datasets named, and no difference is computed. At `paper` the datasets are
#   the papers' and the difference is computed; a PSNR gap above 0.05 dB carries its explanation (known
#   convention differences), or "unexplained".

# %% tags=["parameters"]
profile = None  # None: $SRLIB_PROFILE, else "mini"
overrides = {}  # dotted profile keys

# %%
import srlib.notebook as nb

cfg = nb.setup(globals(), ["profile", "overrides"])

# %%
import pandas as pd

from srlib import results
from srlib.weights import evaluation, released

released.table()[["name", "title", "source", "check", "units", "zoo_model", "printed_in", "status"]]

# %% [markdown]
# ## Each released model on every test set (a cached stage per file, keyed by its sha256)

# %%
rows = evaluation.released_rows(cfg)
ours = results.frame(rows)
print(results.write_table(evaluation.TABLE, rows, cfg.name).name, f"— {len(ours)} rows, "
      f"{ours.value.notna().sum()} measured")
evaluation.summary(rows, cfg)

# %% [markdown]
# ## Paper | ours | difference

# %%
cmp = evaluation.paper_vs_ours(rows, cfg)
cmp

# %% [markdown]
# ## Units and conventions
#
# - Every loaded model takes and returns RGB in [0, 1] like every zoo model. TPSR works in 0-255 with a mean
#   shift of 255 x the DIV2K mean: our `TPSRGenerator` converts itself and the file's `sub_mean`/`add_mean` fill
#   its mean-shift layers. CARN-M works in [0, 1] with the mean shift in [0, 1] units (its `*.shifter` layers ->
#   ours). FMEN and RFDN (NTIRE 2022 `test_demo.py`: `data_range` 255) work in 0-255 without a mean shift: a
#   wrapper feeds `x * 255` and divides by 255. After each load the file's mean-shift tensors are checked against
#   the table, so a file in other units fails by name.
# - CARN-M's file is the authors' multi-scale model; it loads whole into `carn_m(multi_scale=True)` (x2 and x3
#   branches included, nothing dropped) and the x4 branch is evaluated.
# - FMEN's file is the re-parameterised deploy form, which is what `srlib.models.fmen` builds.
# - Our metric: Y of BT.601 (MATLAB constants), 4-pixel shave, output rounded to 8 bits -- TPSR's own
#   `evaluate.py` does the same. CARN's `sample.py` truncates to 8 bits instead of rounding; the NTIRE challenge
#   scores RGB, not Y. The papers' LPIPS is the VGG variant for TPSR; offline LPIPS reads *unavailable*.
# - Measured once with the Set5 images that ship with royson/tpsr: TPSR-D2 29.60 dB (printed 29.60) on the
#   authors' LR and on ours alike, CARN-M 31.88 (printed 31.92), bicubic 28.43 (the literature's 28.42).

# %% [markdown]
# ## Checks
# A PSNR-oriented released model more than 1 dB below bicubic (a GAN-trained one more than 3 dB below) means
# our key mapping or units are wrong: that raises. Absent files are not errors; every empty value has its reason.

# %%
assert ours[ours.value.isna()].note.str.len().gt(0).all()
assert ours[(ours.model == "bicubic") & (ours.metric == "psnr")].value.notna().all()
failures = evaluation.check_rows(rows, cfg)
if failures:
    raise AssertionError("released checkpoints below bicubic:\n" + "\n".join(failures))
measured = sorted(set(ours[ours.value.notna() & (ours.model != "bicubic")].model))
absent = sorted(set(ours.model) - set(measured) - {"bicubic"})
gaps = cmp[cmp.note.str.contains("> 0.05", regex=False)] if len(cmp) else cmp
print(f"measured: {', '.join(measured) or 'none'}; absent (with the fetch command): {', '.join(absent) or 'none'}; "
      f"PSNR gaps > 0.05 dB against printed numbers: {len(gaps)}")
