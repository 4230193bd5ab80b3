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
# # TPSR discriminator search and Fig. 3 — which discriminator makes TPSR perceptual?
#
# Lee et al., ECCV 2020, Sec. 3.3 and 4.2, Alg. 1 lines 27-33. The same REINFORCE loop searches the discriminator
# space S_D (Eq. 7: 5 reduction blocks, each an operation from Op, a stride-2 reduction from ROp and BatchNorm;
# flatten, optional bottleneck, Linear -> 1; spectral normalisation). Each candidate D fine-tunes TPSR-NOGAN x4
# with Eq. 8 (alpha L1 + lambda L_vgg + gamma L_adv for G, the standard D loss) on a short proxy; its reward is the
# perceptual metric on validation, **best of the last three evaluations**; no weight sharing, no Mult-Adds limit.
# Fig. 3: the three best searched Ds, SRGAN's and ESRGAN's (relativistic loss) discriminators each fine-tune
# TPSR-NOGAN several times; the run with the best validation perceptual metric is measured on the test sets and
# averaged over them weighted by their number of images.
#
# - **The metric.** The paper's is LPIPS v0.1 (VGG). Without its ImageNet backbone (offline), the search and this
#   figure use **GMSD** (gradient magnitude similarity deviation, Xue et al. 2014: full-reference, no learned
#   weights, lower is better) as a *stand-in*, named `gmsd` in every row and axis: the reward then differs from
#   the paper's, and no GMSD number is comparable with a printed LPIPS. Likewise the VGG term of Eq. 8 is the
#   labelled pixel-space stand-in offline (the stage manifests say which).
# - **NIQE** is *unavailable*: no faithful offline implementation exists here (its pristine-image model is not
#   bundled by scikit-image; pyiqa is not installed). **JAGAN**'s architecture is not public: its row says so.
# - **Our choices** (the supplementary material is not available; `srlib/tpsr/config.py`): T_D, the proxy length
#   (an "epoch" = `d_search.eval_every` GAN steps), batch and patch; Eq. 8's weights = ESRGAN's (1e-2, 1, 5e-3);
#   conv2_2 as the proxy's "earlier" VGG layer, conv5_4 on the full task; the bottleneck searched as none or
#   m = 100; reward R = relative improvement over TPSR-NOGAN's own score; the full perceptual task = ESRGAN's GAN
#   schedule (shrunk at mini/smoke). SRGAN's and ESRGAN's Ds are the zoo's (`srgan_d`, `esrgan_d`) at the
#   profile's `baselines.<name>.d_kw` width; their params/MACs below are at the papers' 64 channels.

# %% tags=["parameters"]
profile = None  # None: $SRLIB_PROFILE, else "mini"
overrides = {}  # dotted profile keys, e.g. {"tpsr.d_study.runs": 5}

# %%
import srlib.notebook as nb

cfg = nb.setup(globals(), ["profile", "overrides"])

# %%
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from srlib import report, results
from srlib.tpsr import experiments, stages

seed = cfg.tpsr.search_seeds[0]
dsearch = stages.discriminator_search(cfg, seed)
metric, title = dsearch["metric"], dsearch["metric_title"]
print(f"perceptual metric: {title} -- {dsearch['metric_note']}")
print(f"Eq. 8 perceptual term: {dsearch['perceptual_loss']}")
hist = experiments.search_frame(dsearch)
rows = experiments.search_rows(cfg, dsearch, "d", seed)
totals = results.frame(rows).query("dataset == ''")[["metric", "value", "unit"]]
print(totals.to_string(index=False))
pd.DataFrame(dsearch["top"])

# %% [markdown]
# ## The discriminator search step by step

# %%
tr = hist[hist.status == "trained"].assign(perceptual=lambda d: d.perceptual, best=lambda d: -d.best_so_far)
fig, ax = plt.subplots(figsize=(7, 3.6))
sns.lineplot(data=tr, x="step", y="perceptual", marker="o", alpha=0.6, ax=ax, label="candidate (best of last 3 evaluations)")
sns.lineplot(data=tr, x="step", y="best", ax=ax, label="best so far")
ax.axhline(dsearch["start"], color="0.5", ls="--", label="TPSR-NOGAN before fine-tuning")
ax.set(xlabel="search step", ylabel=f"{metric} on {cfg.data.val_set} (lower is better)",
       title=f"D search: {len(tr)} candidates; metric {title}")
ax.title.set_fontsize(10)
ax.legend(fontsize=8)
print(nb.save_figure(fig, "tpsr_d_search", cfg).name)

# %% [markdown]
# ## Fig. 3 — each discriminator fine-tunes TPSR-NOGAN several times

# %%
runs = experiments.study(cfg, seed)
rows += experiments.fig3_rows(cfg, runs, seed)
tab = results.frame(rows)
print(results.write_table("tpsr_discriminators", rows, cfg.name).name, f"— {len(tab)} rows")
fig3 = tab[tab.table == "fig3"]
fig3.pivot_table(index="model", columns="metric", values="value", dropna=False).reindex(
    columns=["psnr", metric, "niqe", "d_params", "d_macs"]).round(4)

# %%
counts = experiments.image_counts(cfg)
spread = pd.concat([experiments.per_run(rows, m, counts).assign(metric=m) for m in ("psnr", metric)])
best = fig3[fig3.dataset == "weighted_avg"].assign(discriminator=lambda d: d.model.str.removeprefix("tpsr_"))
order = list(runs)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for ax, m, label in ((axes[0], "psnr", "PSNR (dB, Y), higher is better"), (axes[1], metric, f"{metric}, lower is better")):
    sns.stripplot(data=spread[spread.metric == m], x="discriminator", y="value", order=order, color="0.5", ax=ax)
    sns.pointplot(data=best[best.metric == m], x="discriminator", y="value", order=order, color="tab:red",
                  linestyles="none", markers="D", ax=ax)
    ax.set(xlabel="discriminator (d1..: searched)", ylabel=label,
           title=(title if m == metric else "PSNR") + f", weighted over {', '.join(counts)} by image count")
    ax.title.set_fontsize(9)
handles = [plt.Line2D([], [], color="0.5", marker="o", ls="none", label="every run"),
           plt.Line2D([], [], color="tab:red", marker="D", ls="none", label="best run by validation")]
axes[1].legend(handles=handles, fontsize=8)
fig.suptitle(f"TPSR Fig. 3 at {cfg.name}: {cfg.tpsr.d_study.runs} runs per D; NIQE unavailable; JAGAN not public", y=1.03)
print(nb.save_figure(fig, "tpsr_fig3", cfg).name)

# %% [markdown]
# ## Claims (Sec. 4.2, Fig. 3)
# 1. The searched Ds beat the fixed ones on the target metric: per run (runs share their seed across Ds), the mean
#    of the searched Ds' test score against the mean of SRGAN's and ESRGAN's; paired over runs.
# 2. Ds of very different size give similar perceptual results: the largest and the smallest D of the study (by
#    parameters at paper scale) within 5% of the fixed Ds' mean score, paired over runs.

# %%
pr = experiments.per_run(rows, metric, counts).pivot_table(index="run", columns="discriminator", values="value")
searched = [c for c in pr.columns if c.startswith("d") and c[1:].isdigit()]
fixed = [c for c in ("srgan", "esrgan") if c in pr.columns]
size = fig3[fig3.metric == "d_params"].dropna(subset=["value"]).set_index("model").value
big, small = size.idxmax().removeprefix("tpsr_"), size.idxmin().removeprefix("tpsr_")
tol = 0.05 * float(pr[fixed].mean().mean())
claims = [
    report.Claim("tpsr", f"searched Ds beat SRGAN's and ESRGAN's on the target metric ({metric}; Fig. 3)",
                 *report.verdict(pr[searched].mean(axis=1), pr[fixed].mean(axis=1), False)),
    report.Claim("tpsr", f"Ds of very different size give similar perceptual results ({big}: {size.max():.0f}K vs "
                 f"{small}: {size.min():.0f}K params, {size.max() / size.min():.0f}x; tolerance 5% = {tol:.3g})",
                 *report.within(pr[big], pr[small], tol)),
]
report.write_claims("tpsr_discriminators", claims, cfg.name)
report.claims_frame(claims)

# %%
assert len(tr) == cfg.tpsr.d_search.steps and tr.perceptual.notna().all()
assert fig3[(fig3.dataset == "weighted_avg") & (fig3.metric == "psnr") & (fig3.model != "tpsr_jagan")].value.notna().all()
assert fig3[fig3.value.isna()].note.str.len().gt(0).all()
per_min = totals.set_index("metric").value["candidates_per_min"]
print(f"{len(tr)} D candidates ({per_min:.1f}/min), {len(runs)} Ds x {cfg.tpsr.d_study.runs} runs; claims: "
      + ", ".join(c.verdict for c in claims))
