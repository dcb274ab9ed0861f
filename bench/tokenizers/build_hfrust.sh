#!/usr/bin/env bash
# Builds build/hfrust/libtokenizers.a, the static library behind
# github.com/daulet/tokenizers (HF's Rust tokenizers through cgo), for the
# optional `hfrust` build tag (in-process oracle test and benchmark peer):
#   bench/tokenizers/build_hfrust.sh
#   CGO_LDFLAGS="-L$PWD/build/hfrust" go test -tags hfrust ./tokenizers -run HFRust
#   HFRUST=1 bench/tokenizers/run.sh
# The module's Cargo.toml takes tiktoken-rs from a git repository, which the
# project's machines cannot reach (only crates.io), so the copy built here
# replaces it with a stub: FromTiktoken returns an error, everything else is
# HF's `tokenizers` crate from crates.io. Needs cargo.
set -euo pipefail
cd "$(dirname "$0")/../.."
ver=$(awk '$1=="github.com/daulet/tokenizers"{print $2}' go.mod)
src=$(go env GOMODCACHE)/github.com/daulet/tokenizers@$ver
out=build/hfrust
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$src"/. "$work"/
chmod -R u+w "$work"
python3 - "$work" <<'PYEOF'
import re, sys
d = sys.argv[1]
s = open(f"{d}/src/lib.rs").read()
stub = '''#[allow(dead_code)]
mod tiktoken_rs {
    pub type Rank = u32;
    pub struct CoreBPE;
    impl CoreBPE {
        pub fn encode(&self, _text: &str, _allowed: &std::collections::HashSet<&str>) -> (Vec<Rank>, usize) {
            (Vec::new(), 0)
        }
        pub fn decode(&self, _tokens: Vec<Rank>) -> Result<String, Box<dyn std::error::Error>> {
            Err("tiktoken is not available in this build".into())
        }
    }
}
'''
s = s.replace("use tiktoken_rs;\n", stub, 1)
i = s.index("pub fn create_tiktoken_encoder(")
j = s.index("{", s.index(") -> Result<", i))
depth, k = 0, j
while True:
    if s[k] == "{":
        depth += 1
    elif s[k] == "}":
        depth -= 1
        if depth == 0:
            break
    k += 1
s = s[:j] + '{\n    let _ = (model_file_path, config_file_path, pattern);\n    Err("tiktoken is not available in this build".into())\n}' + s[k + 1:]
open(f"{d}/src/lib.rs", "w").write(s)
c = open(f"{d}/Cargo.toml").read()
c = re.sub(r"tiktoken-rs = .*\n", "", c)
c = re.sub(r"\[dev-dependencies\][\s\S]*$", "", c)
open(f"{d}/Cargo.toml", "w").write(c)
PYEOF
rm -f "$work/Cargo.lock" "$work/Cargo.Bazel.lock"
(cd "$work" && cargo build --release)
mkdir -p "$out"
cp "$work/target/release/libtokenizers.a" "$out/libtokenizers.a"
echo "built $out/libtokenizers.a"
