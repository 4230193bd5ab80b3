"""The papers' printed numbers (srlib.reference): schema, spot checks against the papers, bad files."""
from __future__ import annotations

import math
import shutil

import pandas as pd
import pytest

from srlib import reference as ref


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return ref.load()


def test_papers_and_files():
    assert ref.papers() == ["mfagan", "tpsr", "adasr", "agd"]
    for p in ref.papers():
        assert ref.csv_path(p).is_file()


def test_schema(df):
    assert tuple(df.columns) == ref.COLUMNS
    assert set(df["paper"]) == set(ref.PAPERS)
    assert df["value"].dtype == float
    assert df["metric"].isin(ref.METRICS).all()
    assert (df["convention"].str.strip() != "").all()
    assert (df["source"].str.strip() != "").all()
    quality = df["metric"].isin(ref.QUALITY_METRICS)
    assert df.loc[quality, "dataset"].isin(ref.DATASETS).all()
    assert (df.loc[~quality, "dataset"] == "").all()
    missing = df[df["value"].isna()]
    assert (missing["note"].str.strip() != "").all()
    # the only cells printed as "—": SRGAN on Urban100 in MFAGAN Table 2
    assert sorted(zip(missing["paper"], missing["table"], missing["model"], missing["dataset"],
                      missing["metric"])) == [("mfagan", "table2", "srgan", "Urban100", "lpips"),
                                              ("mfagan", "table2", "srgan", "Urban100", "psnr")]


def test_no_duplicate_keys(df):
    dup = df[df.duplicated(list(ref.KEY), keep=False)]
    assert dup.empty, dup[list(ref.KEY)]


@pytest.mark.parametrize("paper,table,n_models,n_rows", [
    ("mfagan", "table1", 6, 6 * 5),          # 6 columns x (PSNR, LPIPS, Memory, Param, FLOPs)
    ("mfagan", "table2", 5, 5 * (4 + 8)),    # 5 rows x (4 complexity + 4 datasets x 2)
    ("mfagan", "table3", 2, 2 * 6),
    ("tpsr", "table1", 5, 5 * (2 + 4 * 3)),  # Params, Mult-Adds + 4 datasets x PSNR/LPIPS/PI
    ("adasr", "table1", 14, 14 * (2 + 4 * 2)),
    ("agd", "readme", 5, 11),
])
def test_table_shapes(paper, table, n_models, n_rows):
    t = ref.load(paper, table)
    assert t["model"].nunique() == n_models
    assert len(t) == n_rows


@pytest.mark.parametrize("paper,table,model,metric,dataset,expected", [
    ("mfagan", "table2", "esrgan", "memory", "", 4.29),
    ("mfagan", "table2", "esrgan", "flops_printed", "", 291),
    ("mfagan", "table2", "esrgan", "params", "", 16.67),
    ("mfagan", "table2", "agd", "psnr", "Set14", 27.27),
    ("mfagan", "table2", "agd", "flops_printed", "", 27.1),
    ("mfagan", "table2", "mfagan", "lpips", "Urban100", 0.1132),
    ("mfagan", "table2", "enhancenet", "latency", "", 29),
    ("mfagan", "table1", "mfagan_distill_nas_g32_d32", "psnr", "Set5", 30.16),
    ("mfagan", "table1", "mfagan_l_g64_d48", "flops_printed", "", 23.72),
    ("mfagan", "table1", "mfagan_distill_g_g48_d48", "lpips", "Set5", 0.0878),
    ("mfagan", "table3", "esrgan", "latency", "", 1150),
    ("mfagan", "table3", "mfagan", "latency", "", 70),
    ("mfagan", "abstract", "mfagan_vs_esrgan", "ratio_compute", "", 42.9),
    ("tpsr", "table1", "esrgan", "flops_printed", "", 1034.1),
    ("tpsr", "table1", "esrgan", "params", "", 16697),
    ("tpsr", "table1", "tpsr", "params", "", 61),
    ("tpsr", "table1", "tpsr", "lpips", "Set5", 0.076),
    ("tpsr", "table1", "feqe", "pi", "Urban100", 5.499),
    ("tpsr", "table1", "srgan", "psnr", "B100", 25.19),
    ("adasr", "table1", "rcan", "psnr", "Set5", 32.63),
    ("adasr", "table1", "rcan", "ssim", "Urban100", 0.814),
    ("adasr", "table1", "carn_m", "flops_printed", "", 74.32),
    ("adasr", "table1", "adasr_carn_0.6_0.5", "psnr", "B100", 27.34),
    ("adasr", "table1", "adasr_fmen_0.75_0.8", "params", "", 0.23),
    ("adasr", "table1", "esrgan_pruned", "flops_printed", "", 113.1),
    ("agd", "readme", "agd", "flops_printed", "", 108.06),
    ("agd", "readme", "esrgan", "flops_printed", "", 1176.61),
    ("agd", "readme", "agd", "model_size", "", 1.64),
])
def test_spot_values(paper, table, model, metric, dataset, expected):
    assert ref.lookup(paper, table, model, metric, dataset) == pytest.approx(expected, abs=0, rel=1e-12)


def test_cross_table_consistency():
    """Numbers the paper prints twice agree (a guard against typing errors)."""
    t1, t2, t3 = (ref.load("mfagan", t) for t in ("table1", "table2", "table3"))

    def v(t, model, metric, dataset=""):
        hit = t[(t["model"] == model) & (t["metric"] == metric) & (t["dataset"] == dataset)]
        assert len(hit) == 1
        return float(hit["value"].iloc[0])

    for metric, ds in [("memory", ""), ("flops_printed", ""), ("params", ""), ("psnr", "Set5"),
                       ("lpips", "Set5")]:
        assert v(t3, "esrgan", metric, ds) == v(t2, "esrgan", metric, ds) == v(t1, "esrgan", metric, ds)
        assert v(t3, "mfagan", metric, ds) == v(t2, "mfagan", metric, ds)
        # Table 2's MFAGAN is Table 1's 5th column, printed with fewer digits
        assert v(t2, "mfagan", metric, ds) == pytest.approx(v(t1, "mfagan_distill_nas_g32_d32", metric, ds),
                                                            abs=0.005 + 1e-9)


def test_units(df):
    def units(paper, metric):
        return set(df[(df["paper"] == paper) & (df["metric"] == metric)]["unit"])

    assert units("mfagan", "params") == {"M"}
    assert units("tpsr", "params") == {"K"}
    assert units("agd", "model_size") == {"MB"}
    assert set(df[df["metric"] == "psnr"]["unit"]) == {"dB"}


def test_load_filters_and_errors():
    assert set(ref.load("tpsr")["paper"]) == {"tpsr"}
    assert set(ref.load(table="table1")["paper"]) == {"mfagan", "tpsr", "adasr"}
    with pytest.raises(ValueError, match="unknown paper 'esrgan'"):
        ref.load("esrgan")
    with pytest.raises(ValueError, match="valid: .*table1"):
        ref.load("mfagan", "table9")
    with pytest.raises(KeyError, match="models in this table"):
        ref.lookup("mfagan", "table2", "carn", "psnr", "Set5")
    assert math.isnan(ref.lookup("mfagan", "table2", "srgan", "psnr", "Urban100"))


def _write(tmp_path, name, body_lines):
    path = tmp_path / name
    path.write_text(",".join(ref.COLUMNS) + "\n" + "".join(l + "\n" for l in body_lines), encoding="utf-8")
    return path


GOOD = "mfagan,table2,esrgan,Set5,psnr,30.45,dB,Y channel,MFAGAN Table 2,"


def test_good_tmp_file_reads(tmp_path):
    out = ref.read_csv(_write(tmp_path, "ok.csv", [GOOD]))
    assert out["value"].tolist() == [30.45]


@pytest.mark.parametrize("line,match", [
    ("mfagan,table2,esrgan,Set5,psnr,30.4x,dB,Y channel,MFAGAN Table 2,", "not a number"),
    ("mfagan,table2,esrgan,Set5,psnr,,dB,Y channel,MFAGAN Table 2,", "needs a note"),
    ("srgan,table2,esrgan,Set5,psnr,30.45,dB,Y channel,MFAGAN Table 2,", "paper 'srgan'"),
    ("mfagan,table2,esrgan,Set5,accuracy,30.45,dB,Y channel,MFAGAN Table 2,", "metric 'accuracy'"),
    ("mfagan,table2,esrgan,,psnr,30.45,dB,Y channel,MFAGAN Table 2,", "needs a dataset"),
    ("mfagan,table2,esrgan,Set5,params,16.67,M,M params,MFAGAN Table 2,", "takes no dataset"),
    ("mfagan,table2,ESRGAN,Set5,psnr,30.45,dB,Y channel,MFAGAN Table 2,", "lower-case id"),
    ("mfagan,table2,esrgan,Set5,psnr,30.45,dB,Y channel,MFAGAN Table 2, row ESRGAN,", "fields"),
    (GOOD, "duplicate key"),
])
def test_malformed_csv_names_file_and_line(tmp_path, line, match):
    path = _write(tmp_path, "broken.csv", [GOOD, line] if line != GOOD else [GOOD, GOOD])
    with pytest.raises(ValueError, match=match) as e:
        ref.read_csv(path)
    assert "broken.csv" in str(e.value)
    assert "line 3" in str(e.value)


def test_bad_header_names_file(tmp_path):
    path = tmp_path / "hdr.csv"
    path.write_text("paper,table,model,metric,value\nmfagan,table2,esrgan,psnr,30.45\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"hdr\.csv, line 1: columns"):
        ref.read_csv(path)


def test_file_of_other_paper(tmp_path):
    path = _write(tmp_path, "tpsr.csv", [GOOD])
    with pytest.raises(ValueError, match=r"tpsr\.csv, line 2: paper 'mfagan' in the file for 'tpsr'"):
        ref.read_csv(path, paper="tpsr")


def test_packaged_files_are_valid_copies(tmp_path):
    """Each packaged CSV survives a copy + re-read (no dependence on the package location)."""
    for p in ref.papers():
        copy = tmp_path / f"{p}.csv"
        shutil.copy(ref.csv_path(p), copy)
        pd.testing.assert_frame_equal(ref.read_csv(copy, paper=p), ref.load(p))
