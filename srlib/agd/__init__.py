"""AutoGAN-Distiller (Fu, Chen, Wang, Wang, Wang, "AutoGAN-Distiller: Searching to Compress Generative
Adversarial Networks", ICML 2020), its super-resolution recipe as read from the authors' code
(shared/notes/agd.md, with the corrections at its end).

One role per file (method layer; stages, config and experiments build on these):

* ``operations.py`` -- the four operators (skip = conv1x1+ReLU, conv3x3, residual, dwsblock), elastic in
  width on views of one weight set, supernet form (1x1-conv shortcuts always, dwsblock expansion fixed)
  and derived form; each op's MACs (:func:`~srlib.agd.operations.op_macs`).
* ``network.py`` -- :class:`~srlib.agd.network.Genotype` (JSON-able) and the derived generator ``agd``
  (ESRGAN skeleton, 5 cells x 5 layers, the retrain shortcuts and widths); the skeleton and its MACs.
* ``supernet.py`` -- :class:`~srlib.agd.supernet.AGDSupernet`: mixed ops (softmax alpha), straight-through
  Gumbel widths, ``arch_parameters()`` / ``weight_parameters()``, ``forward(x, widths, op_weights=)``,
  ``derive()``; :func:`~srlib.agd.supernet.inherit` (supernet -> derived net with copied weights).
* ``flops.py`` -- the FLOPs penalty: :class:`~srlib.agd.flops.MacsTable` (per-op MAC lookup at one LR
  size), :func:`~srlib.agd.flops.penalty_macs`, :class:`~srlib.agd.flops.PenaltyWeight` (halve/double).
* ``proxy.py`` -- :class:`~srlib.agd.proxy.DistillationProxy`: teacher outputs as targets, w_pix L1 +
  w_content VGG19 conv5_4 L1 (the labelled stand-in offline).
* ``bilevel.py`` -- step functions for ``srlib.training.loop.train``:
  :class:`~srlib.agd.bilevel.SupernetPretrainStep` and :class:`~srlib.agd.bilevel.BilevelStep`.
* ``pruning.py`` -- the "ESRGAN pruned" baseline: L1 filter pruning to a MAC budget
  (:func:`~srlib.agd.pruning.prune_esrgan`).

* ``config.py`` / ``stages.py`` / ``experiments.py`` -- the ``agd`` profile section; the cached stages
  (supernet pre-training, search per FLOPs budget, retrain, ESRGAN pruned, VDSR); the comparison's rows.

Shared pieces it composes: ``srlib.search.differentiable`` (MixedOp, straight-through Gumbel, sandwich),
``srlib.search.elastic`` (channel groups, L1 importance, conv slicing), ``srlib.models`` (ESRGAN teacher,
VDSR row), ``srlib.training`` (loop, losses, stand-in), ``srlib.complexity`` (MAC counts, AGD's convention).
"""
