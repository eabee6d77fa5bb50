#!/usr/bin/env bash
# Serve the fixture mirror (<checkout>/.cache/lab/mirror, built by build.sh) as http://mirror.lab
# on the Docker network nvgpu-lab: container nvgpu-lab-mirror, directory mounted read-only,
# python3 -m http.server on port 80, no port published on the host.
# Idempotent: leaves a healthy server alone; (re)creates it when the image, the mounted directory
# or that directory's identity (inode) changed. Usage: serve.sh (no arguments).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
mirror=$root/.cache/lab/mirror
name=nvgpu-lab-mirror
network=nvgpu-lab
image=nvgpu-lab/debian:bookworm-amd64
log() { printf '[mirror] %s\n' "$*"; }

[ -s "$mirror/fingerprints.yml" ] || { log "no mirror at $mirror: run tests/lab/mirror/build.sh first"; exit 1; }
docker network inspect "$network" >/dev/null 2>&1 || { log "no Docker network $network: run scripts/lab-host.sh"; exit 1; }
image_id=$(docker image inspect "$image" --format '{{.Id}}' 2>/dev/null) || { log "no image $image: run tests/lab/images/build.sh"; exit 1; }
want="$image_id $mirror $(stat -c '%d:%i' "$mirror")"

have=$(docker container inspect "$name" --format '{{.Image}} {{index .Config.Labels "nvgpu-lab.mirror"}} {{.State.Running}}' 2>/dev/null || true)
if [ "$have" != "$want true" ]; then
  if [ -n "$have" ]; then
    log "replacing $name (was: $have)"
    docker rm -f "$name" >/dev/null
  fi
  log "starting $name: $mirror as http://mirror.lab on network $network"
  docker run -d --name "$name" --network "$network" --network-alias mirror.lab \
    --label "nvgpu-lab.mirror=$mirror $(stat -c '%d:%i' "$mirror")" \
    --restart unless-stopped --platform linux/amd64 \
    -v "$mirror:/srv/mirror:ro" -w /srv/mirror \
    "$image" python3 -m http.server 80 --directory /srv/mirror >/dev/null
fi

# Answered on the lab network? Ask from a throwaway container, as the lab hosts will.
for attempt in $(seq 1 20); do
  if served=$(docker run --rm --network "$network" "$image" \
    curl -fsS --max-time 5 http://mirror.lab/fingerprints.yml 2>/dev/null) &&
    [ "$served" = "$(cat "$mirror/fingerprints.yml")" ]; then
    log "http://mirror.lab answers on $network (container $name, attempt $attempt)"
    exit 0
  fi
  sleep 1
done
log "http://mirror.lab does not answer (or serves another mirror); docker logs $name:"
docker logs --tail 20 "$name" >&2 || true
exit 1
