"""The transformers peer of BenchmarkCheckpointSave (bench/train/save.sh):
what HF Trainer's _save_checkpoint writes for a model and its AdamW state
after one step: model.save_pretrained (safetensors), torch.save of the
optimizer's state_dict, trainer_state.json; then --save-total-limit 1
pruning. Prints save-ms and prune-ms per save, averaged over N saves."""
import json, os, shutil, sys, tempfile, time

import torch
from transformers import AutoModelForSequenceClassification

model_dir, n = sys.argv[1], int(sys.argv[2])
out = sys.argv[3] if len(sys.argv) > 3 else tempfile.mkdtemp()
torch.manual_seed(1)
model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2)
opt = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
ids = torch.tensor([[1000 + (i * 32 + j) % 5000 for j in range(32)] for i in range(8)])
loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=torch.tensor([i % 2 for i in range(8)])).loss
loss.backward()
opt.step()

save = prune = 0.0
prev = None
for step in range(1, n + 1):
    t0 = time.perf_counter()
    d = os.path.join(out, f"checkpoint-{step}")
    model.save_pretrained(d, safe_serialization=True)
    torch.save(opt.state_dict(), os.path.join(d, "optimizer.pt"))
    with open(os.path.join(d, "trainer_state.json"), "w") as f:
        json.dump({"global_step": step, "log_history": []}, f, indent=2)
    t1 = time.perf_counter()
    if prev:
        shutil.rmtree(prev)
    prev = d
    t2 = time.perf_counter()
    save += t1 - t0
    prune += t2 - t1
shutil.rmtree(prev)
print(f"save-ms {1000 * save / n:.1f} prune-ms {1000 * prune / n:.1f}")
