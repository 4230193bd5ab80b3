"""Latency: export (LiteRT / ONNX), desktop benchmarks, per-kernel lookup tables, the phone path.

Import the modules directly (nothing heavy is imported here):

* :mod:`srlib.latency.export` -- ``export_tflite`` / ``export_onnx``: a generator -> ``.tflite``
  (litert-torch, NHWC I/O) or ``.onnx`` (opset 18), verified against PyTorch (max abs diff <= 1e-4);
  ``UnsupportedOpError`` names ops a converter / runtime rejects; ``tflite_ops`` / ``xnnpack_rejected``
  say which ops XNNPACK leaves to LiteRT's built-in kernels.
* :mod:`srlib.latency.bench` -- ``bench_tflite`` (XNNPACK on/off, N threads), ``bench_onnx``
  (CPUExecutionProvider), ``benchmark_stage`` (cached), ``rows`` (tidy rows, "desktop CPU proxy").
* :mod:`srlib.latency.trace` -- ``trace_kernels``: the fused runtime kernels of a network (LUT keys).
* :mod:`srlib.latency.lut` -- ``LUT`` (``predict``, ``scorer``, ``save`` / ``load``), ``build_lut`` /
  ``extend_lut``, after MFAGAN Sec. 3.6, FBNet and once-for-all; the pieces it is built from:
  :mod:`srlib.latency.networks` (``NetworkSpec``, network kernel lists, ``zoo_config_kernels``),
  :mod:`srlib.latency.convert` (one-kernel models and networks to ``.tflite``, in worker processes) and
  :mod:`srlib.latency.lut_timing` (``steady_ms``, ``time_files`` with canary kernels),
  :mod:`srlib.latency.kernel_store` (the machine's measured kernels, shared by every table, notebook and
  profile of one machine and runtime) and :mod:`srlib.latency.lut_calibration` (``a * sum + b * kernels
  + c`` fitted on calibration networks timed whole).
* :mod:`srlib.latency.lut_validation` -- ``validate`` on held-out networks (nn-Meter's share within +-10 %
  and RMSPE); :mod:`srlib.latency.lut_stages` -- the cached ``lut_stage`` / ``load_lut`` and
  ``validation_stage``.
* :mod:`srlib.latency.phone` -- ``adb_commands``, ``run_on_phone``, ``parse_benchmark_output`` for LiteRT's
  ``benchmark_model`` on an Android phone (``srlib latency phone ...`` on the command line).

Numbers measured on this machine are a *desktop CPU proxy*, never mobile latency.
"""
