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
# # MFAGAN Table 2 and Fig. 5 — comparison with perceptual SR methods
#
# Cheng et al., *MFAGAN*, Sec. 4.4, Table 2 (SRGAN, EnhanceNet, ESRGAN, AGD, MFAGAN on Set5 / Set14 / B100 /
# Urban100: memory access cost, FLOPs, params, latency, PSNR, LPIPS) and Fig. 5 (memory access cost vs
# LPIPS on Set5, circle size = FLOPs).
#
# - Our models come from cached stages: MFAGAN = Table 1's 5th column (the ablation notebook); SRGAN,
#   EnhanceNet and ESRGAN are the shared reference baselines (`srlib.baselines`, trained once per profile
#   and seed for every paper; ESRGAN's stage is the ablation notebook's, read here, not retrained), each with
#   its own published recipe (`srlib/baselines/config.py`: values and sources). SRGAN: MSE pre-training
#   (SRResNet), then VGG54 (relu5_4, features x 1/12.75) + 1e-3 adversarial. EnhanceNet-PAT: L_P on VGG19
#   pool2/pool5 (2e-1, 2e-2) + Gram texture L_T at conv1_1/2_1/3_1 on 16x16 patches + 2 L_A; its weights
#   come from a third-party reimplementation (the paper's appendix table was not available), and the
#   L1 pre-training before it is our assumption. **Offline** every VGG term is a labelled pixel-space
#   stand-in at the term's weight (identity features; for the texture term, Gram matrices of RGB patches):
#   each row's note says so.
# - **AGD**: its searched architecture is not published, so its row is *our* AGD (`srlib.agd`: the first
#   budget's search, retrained; notebooks 50-51, which `make reproduce` runs before this one). Its complexity
#   columns count our searched network at this profile's widths, not a paper architecture: at mini/smoke its
#   point is not on the same footing as the others (the figure's label says so).
# - **Latency** is measured in the mobile-latency notebook (desktop-CPU proxy), not here.
# - At `mini` every "Set5/Set14/B100/Urban100" column is the profile's test split, SRGAN and EnhanceNet are
#   shrunk (`baselines` in srlib/profiles/mini.yaml: 32 channels, 4 blocks, discriminator base width 16)
#   and every row's note says what was
#   trained; the complexity columns are the full paper architectures under MFAGAN's convention.

# %% tags=["parameters"]
profile = None  # None: $SRLIB_PROFILE, else "mini"
overrides = {}  # dotted profile keys

# %%
import srlib.notebook as nb

cfg = nb.setup(globals(), ["profile", "overrides"])

# %%
import matplotlib.pyplot as plt
import pandas as pd

from srlib import report, results
from srlib.agd import experiments as agd
from srlib.mfagan import experiments
from srlib.training import summary

seeds = list(cfg.mfagan.seeds)
cost = experiments.cost_model(cfg)
TABLE2 = ("srgan", "enhancenet", "esrgan", "mfagan")

# %%
runs = {s: experiments.table2(cfg, s, experiments.table1(cfg, s, cost)) for s in seeds}

# %%
rows = []
for s, t2 in runs.items():
    for model_id in TABLE2:
        rows += experiments.quality_rows(cfg, model_id, t2[model_id], "table2", s)
for model_id in TABLE2:
    rows += experiments.complexity_rows(cfg, model_id, runs[seeds[0]][model_id], "table2")
rows += agd.rows_in(cfg, "mfagan", "table2", cfg.agd.seeds[0])   # our AGD (notebooks 50-51's stages)
ours = results.frame(rows)
print(results.write_table("mfagan_comparison", rows, cfg.name).name, f"— {len(ours)} rows")

# %% [markdown]
# ## Paper | ours | difference

# %%
paper_sets = ["Set5", "Set14", "B100", "Urban100"]
dmap = ({cfg.data.test_sets[0]: "Set5"} if cfg.data.source != "paper" else {})
cmp = report.compare(ours, "mfagan", "table2", dataset_map=dmap, metric_map={experiments.LPIPS: "lpips"})
cmp[["model", "dataset", "metric", "unit", "paper_value", "ours", "ours_std", "n_seeds", "difference",
     "our_dataset", "our_note"]]

# %% [markdown]
# ## Fig. 5 — memory access cost vs LPIPS (bubble = FLOPs)
# Offline, LPIPS is unavailable; the figure then plots memory access cost against PSNR on the test split and
# says so in its title, so that nothing on it pretends to be LPIPS.

# %%
q = ours[ours.dataset == cfg.data.test_sets[0]]
have_lpips = q[q.metric == experiments.LPIPS].value.notna().any()
ymetric = experiments.LPIPS if have_lpips else "psnr"
pts = (ours[ours.metric.isin(["memory", "flops_printed"])].pivot_table(index="model", columns="metric", values="value")
       .join(q[q.metric == ymetric].groupby("model").value.mean().rename(ymetric)).dropna().reset_index())
fig, ax = plt.subplots(figsize=(7, 4.5))
labels = [m + (f" (ours, {cfg.name} widths)" if m == "agd" else "") for m in pts.model]
experiments.fig5(ax, pts.memory, pts[ymetric], pts.flops_printed, labels, sizes=(40, 1200))
ax.set(xlabel="memory access cost (GB, 128x128 LR; paper architectures, AGD ours)",
       ylabel="LPIPS (AlexNet, Y channel)" if have_lpips else f"PSNR (dB) on {cfg.data.test_sets[0]} — LPIPS unavailable offline",
       title="MFAGAN Fig. 5 axes" + ("" if have_lpips else " (PSNR stand-in for LPIPS: no ImageNet weights)"))
print(nb.save_figure(fig, "mfagan_fig5", cfg).name)
pts

# %% [markdown]
# ## Claims (Sec. 4.4)

# %%
ps = ours[(ours.metric == "psnr") & (ours.dataset == cfg.data.test_sets[0])].pivot_table(index="seed", columns="model", values="value")
claims = []
for other in ("srgan", "enhancenet", "esrgan"):
    v, ev = report.verdict(ps["mfagan"], ps[other], True, unit="dB")
    claims.append(report.Claim("mfagan", f"MFAGAN has higher PSNR than {other} (Table 2, 'best PSNR in most datasets')", v, ev))
# The memory claim is a property of the search space, not of this run: every SubGenerator of MFAGAN's
# space (widths {48, 32, 24} at paper scale) needs far less memory access than ESRGAN, so no search result
# could fail it. We say so, with the numbers, instead of a verdict fixed by construction.
from srlib.complexity.conventions import convention, printed_memory
from srlib.complexity.counters import measure
from srlib.models import build

conv = convention("mfagan", "table2")
largest = printed_memory(measure(build("mfanet", num_feat=48), conv.lr_hw, bias=conv.bias), conv)
mem = ours[ours.metric == "memory"].set_index("model").value
claims.append(report.Claim(
    "mfagan", "MFAGAN needs about 8x less memory access than ESRGAN (8.2x printed)",
    "property of the search space (not decided by this run)",
    f"ours {mem['esrgan'] / mem['mfagan']:.1f}x for the SubGenerator our search selected; the *largest* "
    f"SubGenerator of the space (MFANet-48) is already {mem['esrgan'] / largest:.1f}x below ESRGAN, so every "
    "searched model meets the claim (paper architectures, MFAGAN's memory convention)"))
# Against AGD both searched networks are counted as trained (this profile's widths), so that at mini/smoke
# neither side is a paper architecture while the other is shrunk: AGD's row already is; MFAGAN's is counted here.
trained_mem = {"agd": mem["agd"], **{r["model"]: r["value"] for r in agd.complexity_rows(
    cfg, "mfagan", runs[seeds[0]]["mfagan"], "mfagan", "table2") if r["metric"] == "memory"}}
test = cfg.data.test_sets[0]
bic = {r["dataset"]: r["value"] for r in summary.bicubic_rows(cfg, "bicubic")}   # judged only above bicubic
claims.append(report.Claim(
    "mfagan", "MFAGAN needs about half AGD's memory access cost at better PSNR (Table 2; our two searched models)",
    *report.if_trained((
        "holds" if trained_mem["mfagan"] <= 0.6 * trained_mem["agd"] and ps["mfagan"].mean() > ps["agd"].mean()
        else "does not hold",
        f"memory {trained_mem['mfagan']:.3g} vs {trained_mem['agd']:.3g} G (MFAGAN's convention, both at {cfg.name}'s "
        f"trained widths); PSNR {ps['mfagan'].mean():.2f} vs {ps['agd'].mean():.2f} dB on {test}"),
        {"mfagan": ps["mfagan"].mean(), "agd": ps["agd"].mean()}, bic[test], dataset=test)))
report.write_claims("mfagan_comparison", claims, cfg.name)
report.claims_frame(claims)

# %% [markdown]
# ## Collapse check
# A trained generator more than 1 dB below bicubic on the same split has collapsed or is untrained at
# this scale; it is listed here, loudly, so its row is not read as a result.

# %%
collapsed = report.below_bicubic(ours, bic, margin=1.0)
for r in collapsed.itertuples():
    print(f"BELOW BICUBIC by {r.below_bicubic_db:.2f} dB: {r.model} (seed {r.seed}, {r.dataset}: "
          f"{r.value:.2f} vs bicubic {r.bicubic:.2f}; stage {r.stage})")
print(f"{len(collapsed)} of {int((ours.metric == 'psnr').sum())} PSNR cells more than 1 dB below bicubic")
collapsed

# %%
assert ours[ours.metric == "psnr"].value.notna().all()
assert ours[ours.value.isna()].note.str.len().gt(0).all()
print(f"Table 2 at {cfg.name}: {ours.value.notna().sum()} measured, {ours.value.isna().sum()} unavailable/pending with reasons")
