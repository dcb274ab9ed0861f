"""Exports checkpoints with HF Optimum (the peer kiln's export is checked
and benchmarked against): python optimum_export.py [--level O1|O2|O3] SRC OUT [SRC OUT ...]

Without a level: optimum.exporters.onnx.main_export, task text-classification,
opset 17 (torch.onnx under the hood). With a level: that export, then the
graph optimisation of Optimum's AutoOptimizationConfig of that level, written
to OUT as model.onnx. Several pairs share one interpreter start.

The optimisation runs through ORTOptimizer when optimum.onnxruntime imports.
In the reference venv it does not: optimum.onnxruntime imports `datasets`
(pyarrow wants NumPy 2, torch 1.13 pins NumPy 1) and onnxruntime.quantization
(needs ml_dtypes, not installed) at module level, for its quantisation API
only. Then the script makes the same call ORTOptimizer.optimize makes —
onnxruntime.transformers.optimizer.optimize_model with the level's
opt_level, FusionOptions and only_onnxruntime — and says so on stderr."""
import json, os, sys, tempfile

from optimum.exporters.onnx import main_export

# Optimum's AutoOptimizationConfig levels (optimum 1.19 configuration.py).
LEVELS = {
    "O1": dict(opt_level=1, transformers_specific=False, gelu_approximation=False),
    "O2": dict(opt_level=2, transformers_specific=True, gelu_approximation=False),
    "O3": dict(opt_level=2, transformers_specific=True, gelu_approximation=True),
}

args = sys.argv[1:]
level = ""
if args and args[0] == "--level":
    level, args = args[1], args[2:]
if not args or len(args) % 2 or (level and level not in LEVELS):
    sys.exit(__doc__)


def optimize_like_optimum(tmp, out):
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    cfg = json.load(open(os.path.join(tmp, "config.json")))
    heads = cfg.get("num_attention_heads", cfg.get("n_heads"))
    hidden = cfg.get("hidden_size", cfg.get("dim"))
    lv = LEVELS[level]
    opts = FusionOptions("bert")  # Optimum maps bert, roberta, distilbert, electra to ORT's "bert"
    opts.enable_gelu_approximation = lv["gelu_approximation"]
    m = optimize_model(os.path.join(tmp, "model.onnx"), "bert", heads, hidden, opt_level=lv["opt_level"],
                       optimization_options=opts, use_gpu=False, only_onnxruntime=not lv["transformers_specific"])
    os.makedirs(out, exist_ok=True)
    m.save_model_to_file(os.path.join(out, "model.onnx"))
    for f in os.listdir(tmp):
        if f != "model.onnx":
            os.replace(os.path.join(tmp, f), os.path.join(out, f))


def export(src, out):
    if not level:
        main_export(src, output=out, task="text-classification", opset=17, do_validation=False)
        return
    with tempfile.TemporaryDirectory() as tmp:
        main_export(src, output=tmp, task="text-classification", opset=17, do_validation=False)
        try:
            from optimum.onnxruntime import ORTModelForSequenceClassification, ORTOptimizer
            from optimum.onnxruntime.configuration import AutoOptimizationConfig
        except (ImportError, RuntimeError) as e:
            print("optimum.onnxruntime does not import (%s): calling optimize_model as ORTOptimizer would" % e,
                  file=sys.stderr)
            optimize_like_optimum(tmp, out)
            return
        model = ORTModelForSequenceClassification.from_pretrained(tmp)
        opt = ORTOptimizer.from_pretrained(model)
        opt.optimize(save_dir=out, optimization_config=getattr(AutoOptimizationConfig, level)())
        os.replace(os.path.join(out, "model_optimized.onnx"), os.path.join(out, "model.onnx"))


for i in range(0, len(args), 2):
    export(args[i], args[i + 1])
