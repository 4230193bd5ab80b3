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
# # Latency — export, desktop-CPU proxy timings, lookup tables (MFAGAN Table 3, Table 2's latency column)
#
# - **Export**: every generator of the zoo to LiteRT `.tflite` (litert-torch, NHWC I/O) and ONNX, each
#   checked against PyTorch on a random input (max abs difference; fails above 1e-4 in fp32); ops a runtime
#   cannot take are listed by name.
# - **Table 3** (MFAGAN: Snapdragon 865 GPU, TFLite, 128x128 input: ESRGAN 1150 ms, MFAGAN 70 ms, 16.4x) and
#   **Table 2's latency column** (a V100 server): here LiteRT with XNNPACK on this machine's CPU, 1 thread,
#   128x128 LR — a **desktop CPU proxy, not mobile latency**. MFAGAN's model is our searched SubGenerator
#   (Table 1's 5th column) at the paper's widths. For a phone: `srlib latency phone MODEL.tflite --serial S [--gpu]`
#   (adb + LiteRT's `benchmark_model`; see the README).
# - **Lookup table** (FBNet / once-for-all / MFAGAN Sec. 3.6): one entry per fused kernel the runtime runs,
#   measured in isolation; network latency = the sum. A sum of isolated kernels misses what a whole network
#   adds on a given machine (other data in the caches between layers, per-operator work; nn-Meter), so the
#   table carries a **calibration** `a * sum + b * kernels + c` (a, b, c >= 0) fitted on *calibration*
#   networks timed whole (other widths of TPSR, CARN, IMDN, RFDN, FMEN, MFANet) -- our assumption, not
#   MFAGAN's --, kept only when it predicts left-out calibration networks better than the plain sum
#   (leave-one-out; otherwise the table keeps the plain sum and says so). Validated on held-out networks
#   (narrow CARN / IMDN / FMEN / RFDN / ESRGAN variants, TPSR-like cells, MFANet SubGenerators) whose
#   whole-network timings are never used to build or calibrate it: share within +-10 % and RMSPE, calibrated
#   and plain sum (nn-Meter reports 99.0 % within +-10 % on a phone CPU). The whole networks are timed in the
#   same interleaved passes as the kernels, so a slow spell of a shared machine hits both sides alike.

# %% tags=["parameters"]
profile = None  # None: $SRLIB_PROFILE, else "mini"
overrides = {}  # dotted profile keys, e.g. {"latency.repeats": 20}

# %%
import srlib.notebook as nb

cfg = nb.setup(globals(), ["profile", "overrides"])

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from srlib import io, report, results
from srlib.latency import experiments as lx
from srlib.latency.lut_calibration import Calibration
from srlib.mfagan import experiments as mx

pd.set_option("display.max_colwidth", 120, "display.width", 200)

# %% [markdown]
# ## Export round-trips
# Every zoo generator to LiteRT and ONNX at a small input, checked against PyTorch. The same worker pool
# (one process per core) also converts the files the timings below read -- Table 3's four models and the
# runtime grid's at 128x128, each verified the same way --; the timings then run one at a time. ESRGAN,
# SRGAN and EnhanceNet are converted to LiteRT once, for Table 3: their round-trip row is that export's
# (`lr_hw` 128x128, the same seeded weights and 1e-4 check).

# %%
lat = cfg.latency
seed = cfg.mfagan.seeds[0]
t1 = mx.table1(cfg, seed, mx.cost_model(cfg))
name, kw, how = mx.paper_arch(cfg, t1["mfagan_distill_nas_g32_d32"])
arch = lx.table3_models(cfg, (name, kw))
ex = lx.export_check(cfg, timed=lx.timed_exports(cfg, arch, grid=(name, kw)))
exports = pd.DataFrame(io.read_json(ex.path(ex["exports"])))
exports[["model", "format", "lr_hw", "ok", "max_abs_diff"] + [c for c in ("error",) if c in exports]]

# %%
nd = exports[exports.format == "tflite"][["model", "not_delegated"]]
nd.assign(not_delegated=nd.not_delegated.map(lambda d: ", ".join(f"{k} x{len(v)}" for k, v in (d or {}).items()) or "—"))

# %% [markdown]
# ## MFAGAN Table 3 and Table 2's latency column (desktop CPU proxy)

# %%
timings = [lx.time_model(cfg, n, k, label) for label, (n, k) in arch.items()]
tab = pd.DataFrame(timings)[["model", "median_ms", "iqr_ms", "repeats", "input_hw", "runtime_version", "delegate", "threads", "machine"]]
print("MFAGAN model:", how)
tab

# %%
rows = []
for t in timings:
    note_extra = "" if t["model"] != "esrgan" or lat.table3_esrgan_blocks == 23 else \
        f"; ESRGAN shrunk to {lat.table3_esrgan_blocks} RRDB at this profile"
    for table in ("table3", "table2"):
        r = results.row(paper="mfagan", table=table, model=t["model"], metric="latency", value=t["median_ms"],
                        unit="ms", profile=cfg.name, stage=t["stage"],
                        note=f"LiteRT {t['runtime_version']}, {t['delegate']}, {t['threads']} thread, LR "
                             f"{t['input_hw'][0]}x{t['input_hw'][1]}; desktop CPU proxy, not mobile latency{note_extra}")
        rows.append(r)
ms = {t["model"]: t["median_ms"] for t in timings}
ratio = ms["esrgan"] / ms["mfagan"]
rows.append(results.row(paper="mfagan", table="table3", model="mfagan_vs_esrgan", metric="ratio_latency", value=ratio,
                        unit="x", profile=cfg.name, note="ESRGAN / MFAGAN median latency, desktop CPU proxy"))
cmp = report.compare(results.frame(rows), "mfagan", ["table2", "table3"])
cmp = cmp[cmp.metric == "latency"][["table", "model", "paper_value", "ours", "convention", "our_note"]]
print(f"ESRGAN / MFAGAN on this CPU: {ratio:.1f}x   (paper: 16.4x on a Snapdragon 865 GPU, Table 3; "
      f"{169.4 / 21.9:.1f}x on its V100 server, Table 2)")
cmp

# %% [markdown]
# ## One model, every runtime configuration
# MFAGAN's SubGenerator on LiteRT with and without XNNPACK and on onnxruntime, 1 and 2 threads: which
# runtime is used changes the numbers more than many architecture changes do, so every row records it.

# %%
grid = pd.DataFrame(lx.runtime_grid(cfg, name, kw, "mfagan"))
for t in grid.itertuples():
    rows.append(results.row(paper="srlib", table="latency_runtimes", model="mfagan", metric="latency",
                            value=t.median_ms, unit="ms", profile=cfg.name, stage=t.stage,
                            note=f"{t.runtime_version}, {t.delegate}, {t.threads} thread(s); desktop CPU proxy"))
grid[["runtime_version", "delegate", "threads", "median_ms", "iqr_ms", "input_hw"]]

# %% [markdown]
# ## Lookup table: predicted vs measured on held-out networks

# %%
table, val = lx.lut_validation(cfg)
vdf = pd.read_csv(val.path(val["validation_csv"]))
share, rmspe = float(vdf.share_within_10pct.iloc[0]), float(vdf.rmspe_pct.iloc[0])
for r in vdf.itertuples():
    rows.append(results.row(paper="srlib", table="latency_lut_validation", model=r.network, metric="error_pct",
                            value=r.error_pct, unit="%", profile=cfg.name, stage=val.name,
                            note=f"predicted {r.predicted_ms:.3f} ms vs measured {r.measured_ms:.3f} ms"))
for metric, value, unit in (("share_within_10pct", share, "%"), ("rmspe", rmspe, "%")):
    rows.append(results.row(paper="srlib", table="latency_lut_validation", model="all_heldout", metric=metric,
                            value=value, unit=unit, profile=cfg.name, stage=val.name,
                            note=f"{len(vdf)} held-out networks, LiteRT-XNNPACK {lat.threads} thread, "
                                 f"LR {lat.lut_lr_hw[0]}x{lat.lut_lr_hw[1]}, {table['n_entries']} table entries; "
                                 "target 95 % (nn-Meter: 99.0 % on a phone CPU)"))
share_sum, rmspe_sum = float(val["within_10pct_sum"]), float(val["rmspe_sum_pct"])   # the plain sum's (validate's summary)
for metric, value in (("share_within_10pct_sum", share_sum), ("rmspe_sum", rmspe_sum)):
    rows.append(results.row(paper="srlib", table="latency_lut_validation", model="all_heldout", metric=metric,
                            value=value, unit="%", profile=cfg.name, stage=val.name,
                            note="the plain sum of isolated kernels, without the calibration"))
cal = table["calibration"]
print(f"calibration on {len(cal['networks'])} networks: {cal['scale']:.3f} x sum + {cal['per_kernel_ms'] * 1e3:.1f} us "
      f"x kernels + {cal['per_network_ms'] * 1e3:.1f} us (RMSPE on them {cal['raw_rmspe_pct']:.1f} % -> {cal['fit_rmspe_pct']:.1f} %, "
      f"leave-one-out {cal.get('loo_rmspe_pct', float('nan')):.1f} %)\n  {cal['note']}")
print(f"held out, calibrated: {share:.1f} % within +-10 %, RMSPE {rmspe:.1f} %;  plain sum: {share_sum:.1f} %, "
      f"RMSPE {rmspe_sum:.1f} %   ({len(vdf)} networks, {table['n_entries']} kernels in the table)")
vdf[["network", "predicted_ms", "predicted_sum_ms", "measured_ms", "error_pct", "error_sum_pct", "within_10pct"]]

# %%
pd.read_csv(table.path(table["calibration_csv"]))

# %%
fig, ax = plt.subplots(figsize=(5.5, 5))
lo, hi = vdf[["predicted_ms", "measured_ms"]].min().min() * 0.8, vdf[["predicted_ms", "measured_ms"]].max().max() * 1.2
xs = np.geomspace(lo, hi, 50)
ax.fill_between(xs, xs * 0.9, xs * 1.1, color="tab:green", alpha=0.15, label="+-10 %")
ax.plot(xs, xs, color="k", lw=0.8)
sns.scatterplot(data=vdf, x="measured_ms", y="predicted_ms", hue="within_10pct", ax=ax)
ax.set(xscale="log", yscale="log", xlabel="measured (ms)", ylabel="LUT prediction (ms)",
       title=f"LUT validation: {share:.0f} % within +-10 %, RMSPE {rmspe:.1f} %\n(desktop CPU proxy)")
print(nb.save_figure(fig, "latency_lut_validation", cfg).name)

# %%
results.write_table("latency_lut_validation", [r for r in rows if r["table"] == "latency_lut_validation"], cfg.name)
results.write_table("mobile_latency", [r for r in rows if r["table"] != "latency_lut_validation"], cfg.name)

# %% [markdown]
# ## Checks and claims

# %%
tfl = exports[exports.format == "tflite"]
assert (exports.ok | exports.get("error", pd.Series("", index=exports.index)).fillna("").str.len().gt(0)).all()
assert (exports[exports.ok].max_abs_diff <= 1e-4).all()
# The paper's claim is about a phone GPU; ours is a desktop-CPU proxy, so the claim is worded as one on the
# proxy, with the measured ratio and a verdict from the timing spread (median -/+ IQR of the repeats):
# holds when even ESRGAN's fast end is slower than MFAGAN's slow end, does not hold in the reverse case.
te, tm = (next(t for t in timings if t["model"] == m) for m in ("esrgan", "mfagan"))
low = (te["median_ms"] - te["iqr_ms"]) / (tm["median_ms"] + tm["iqr_ms"])
high = (te["median_ms"] + te["iqr_ms"]) / max(tm["median_ms"] - tm["iqr_ms"], 1e-9)
proxy = "holds on the proxy" if low > 1 else "does not hold on the proxy" if high < 1 else "inconclusive on the proxy"
claims = [report.Claim("mfagan", "MFAGAN runs faster than ESRGAN (paper: 16.4x on a Snapdragon 865 GPU, Table 3) "
                       "-- judged on a desktop-CPU proxy, not on a phone", proxy,
                       f"ESRGAN / MFAGAN = {ratio:.1f}x (median), {low:.1f}x-{high:.1f}x over median -/+ IQR, "
                       f"LiteRT-XNNPACK, {te['threads']} thread, LR {te['input_hw'][0]}x{te['input_hw'][1]} on this "
                       "CPU; the paper's 16.4x is not a target for this number"),
          report.Claim("srlib", "the LUT (with its calibration where leave-one-out kept it) predicts held-out networks "
                       "within +-10 % for >= 95 % of them (target)", "holds" if share >= 95 else "does not hold",
                       f"{share:.1f} % within +-10 %, RMSPE {rmspe:.1f} %, "
                       f"{'plain sum kept by leave-one-out' if Calibration.from_dict(cal).is_plain_sum else 'calibrated'} "
                       f"(plain sum: {share_sum:.1f} %, RMSPE "
                       f"{rmspe_sum:.1f} %); one build of the table on this machine -- whether it holds elsewhere takes a fresh "
                       "build there (an empty $SRLIB_LATENCY_STORE)")]
report.write_claims("mobile_latency", claims, cfg.name)
print(f"{int(exports.ok.sum())}/{len(exports)} exports within 1e-4; LUT share within 10 %: {share:.1f} %")
report.claims_frame(claims)
