"""Reads a TensorBoard log dir with TensorBoard's own reader and prints
{"files": N, "scalars": {tag: [[step, value, wall_time], ...]}} as JSON."""
import json, math, os, sys

from tensorboard.backend.event_processing import event_accumulator

logdir = sys.argv[1]
acc = event_accumulator.EventAccumulator(logdir, size_guidance={event_accumulator.SCALARS: 0})
acc.Reload()
out = {}
for tag in acc.Tags()["scalars"]:
    out[tag] = [[e.step, e.value if math.isfinite(e.value) else str(e.value), e.wall_time] for e in acc.Scalars(tag)]
files = [f for f in os.listdir(logdir) if f.startswith("events.out.tfevents.")]
print(json.dumps({"files": len(files), "file_version": acc.file_version, "scalars": out}))
