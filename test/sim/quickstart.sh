#!/usr/bin/env bash
# The contract's quick start (steps 2–5), verbatim but for the host, port and key, against a
# running simulator:   npm run sim -- --env-file /tmp/kgpu.env &   . /tmp/kgpu.env
#                      KEY=~/.ssh/id_ed25519 test/sim/quickstart.sh
# Env: KGPU_API_BASE, KGPU_API_TOKEN, KGPU_SSH_HOST, KGPU_SSH_PORT (from --env-file);
#      KEY (private key whose .pub is pinned; default ~/.ssh/id_ed25519), GPU (default rtx4090),
#      POLL (seconds between readiness polls; the contract says 10).
# Prints each step; exits non-zero on the first failure.
set -euo pipefail
T=$KGPU_API_TOKEN; B=$KGPU_API_BASE
HOST=${KGPU_SSH_HOST:?}; PORT=${KGPU_SSH_PORT:?}
KEY=${KEY:-$HOME/.ssh/id_ed25519}; GPU=${GPU:-rtx4090}; POLL=${POLL:-10}
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
SSH_OPTS=(-i "$KEY" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o "UserKnownHostsFile=$WORK/known_hosts" -o LogLevel=ERROR)
step() { printf '\n== %s\n' "$*"; }

step "2. see what's available and rent one"
curl -sS "$B/gpu-models" | jq -c '.[]'
RENT=$(curl -sS -X POST "$B/pods" -H "Authorization: Bearer $T" \
  -H "Content-Type: application/json" \
  -d "$(jq -n --arg p "$(cat "$KEY.pub")" --arg g "$GPU" \
        '{gpu_model:$g, ssh_pubkey:$p}')" | jq -r .pod_id)
[ -n "$RENT" ] && [ "$RENT" != null ] || { echo "rent failed" >&2; exit 1; }
echo "pod: $RENT"

step "3. wait until it's ready"
until [ "$(curl -sS "$B/pods/$RENT" -H "Authorization: Bearer $T" | jq -r .ready)" = "true" ]; do
  sleep "$POLL"
done

step "4. use it"
ssh -p "$PORT" "${SSH_OPTS[@]}" "kgpu@$HOST" nvidia-smi
head -c 1048576 /dev/urandom > "$WORK/mydata.zip"
scp -O -P "$PORT" "${SSH_OPTS[@]}" "$WORK/mydata.zip" "kgpu@$HOST:/workspace/"   # push data
printf '%s\n' 'import hashlib, time' \
  'data = open("/workspace/mydata.zip", "rb").read()' \
  'for epoch in range(3): print("epoch", epoch, flush=True); time.sleep(0.1)' \
  'open("/workspace/model.pt.tmp", "wb").write(hashlib.sha256(data).digest() * 1000)' \
  'import os; os.rename("/workspace/model.pt.tmp", "/workspace/model.pt")' > "$WORK/train.py"
scp -O -P "$PORT" "${SSH_OPTS[@]}" "$WORK/train.py" "kgpu@$HOST:/workspace/"
ssh -p "$PORT" "${SSH_OPTS[@]}" "kgpu@$HOST" 'setsid -f python /workspace/train.py < /dev/null > /tmp/train.log 2>&1'
until ssh -p "$PORT" "${SSH_OPTS[@]}" "kgpu@$HOST" 'test -f /workspace/model.pt'; do sleep 0.2; done
ssh -p "$PORT" "${SSH_OPTS[@]}" "kgpu@$HOST" 'tail -n 3 /tmp/train.log'
scp -O -P "$PORT" "${SSH_OPTS[@]}" "kgpu@$HOST:/workspace/model.pt" "$WORK/"   # pull results
python3 -c 'import hashlib,sys; d=open(sys.argv[1],"rb").read(); m=open(sys.argv[2],"rb").read(); assert m == hashlib.sha256(d).digest()*1000, "model.pt does not match"; print("model.pt ok")' "$WORK/mydata.zip" "$WORK/model.pt"

step "5. release"
curl -sS -X DELETE "$B/pods/$RENT" -H "Authorization: Bearer $T" | jq -c .
until [ "$(curl -sS "$B/pods/$RENT" -H "Authorization: Bearer $T" | jq -r .phase)" = "Ended" ]; do sleep 0.2; done
if ssh -p "$PORT" "${SSH_OPTS[@]}" "kgpu@$HOST" true 2> "$WORK/denied"; then echo "the key still works after release" >&2; exit 1; fi
grep -q 'Permission denied (publickey)' "$WORK/denied"
echo "released: $(curl -sS "$B/pods/$RENT" -H "Authorization: Bearer $T" | jq -r .end_reason); key refused"
