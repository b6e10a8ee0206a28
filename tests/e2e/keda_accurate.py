#!/usr/bin/env python3
"""keda_accurate.py: plays KEDA's ScaledJob scaler against control, with real agents as Jobs.

KEDA (pkg/scaling/executor/scale_jobs.go, strategy "accurate", docs: "Scaling Jobs") does
this every pollingInterval, with a metrics-api trigger whose targetValue is 1:

    queueLength = /api/queue's "demand"
    maxScale    = min(maxReplicaCount, ceil(queueLength / targetValue))
    running     = Jobs not finished (Complete or Failed)
    pending     = running Jobs whose pod lacks a condition of pendingPodConditions (["Ready"])
    if maxScale + running > maxReplicaCount:
        create min(maxReplicaCount - running, maxScale - pending)   (2.19 on; before,
        maxReplicaCount - running, which overshoots while Jobs are pending: issue #7329)
    else:
        create maxScale - pending
    (never fewer than 0; nothing at all while the trigger is inactive, queueLength 0)

A "Job" here is one runwire-agent process with --ready-file (its pod's Ready condition is
that file, read at each poll as a kubelet exec probe would) and --idle-exit, presenting its
own projected service-account token (one claim per pod). Like pods, Jobs are slow to start
(a random delay before the agent runs), and some never get Ready: every --dead-every'th Job
is pointed at a dead control URL and gives up after its grace (exit 3, a failed Job).

Asserted, and printed as one JSON line at the end:
  - never overshoot: at every poll, idle agents + Jobs whose agent control has not counted
    yet <= waiting + warm_target
    (what is not busy is never more than what the queue asks for), and running Jobs never
    exceed maxReplicaCount;
  - every session ran and exited 0 with its output verified, each on its own agent;
  - every Job that got Ready either ran a session, left by --idle-exit, or is warm at the end.
Exit status 0 when all hold, 1 otherwise.
"""
import argparse
import base64
import json
import math
import os
import random
import subprocess
import sys
import time
import urllib.request


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def mint(key, kid, iss, uid):
    now = int(time.time())
    header = {"alg": "RS256", "kid": kid}
    claims = {"iss": iss, "aud": ["runwire"], "iat": now, "nbf": now, "exp": now + 600,
              "sub": "system:serviceaccount:runwire:runner",
              "kubernetes.io": {"namespace": "runwire", "pod": {"name": uid, "uid": uid}}}
    signing = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing.encode(),
                         check=True, capture_output=True).stdout
    return f"{signing}.{b64(sig)}"


def http(method, url, body=None, token=None):
    req = urllib.request.Request(url, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


class Job:
    def __init__(self, n, a, dead):
        self.n = n
        self.dir = os.path.join(a.work, f"job{n}")
        os.makedirs(self.dir)
        self.ready_file = os.path.join(self.dir, "ready")
        self.log = os.path.join(self.dir, "agent.log")
        tok = os.path.join(self.dir, "token")
        with open(tok, "w") as f:
            f.write(mint(a.key, a.kid, a.issuer, f"pod-{n}"))
        self.dead = dead
        url = f"ws://127.0.0.1:{a.dead_port}/agent" if dead else a.control
        delay = random.uniform(0, a.max_start_delay)
        argv = [a.agent, "--control", url, "--token-file", tok, "--work-root",
                os.path.join(self.dir, "work"), "--ready-file", self.ready_file,
                "--idle-exit", str(a.idle_exit), "--grace", "2"]
        # the pod is scheduled, pulls its image, starts: pending all that time
        self.proc = subprocess.Popen(["sh", "-c", f'sleep {delay:.2f}; exec "$0" "$@"'] + argv,
                                     stdout=subprocess.DEVNULL, stderr=open(self.log, "w"))
        self.ever_ready = False

    def finished(self):
        return self.proc.poll() is not None

    def ready(self):
        r = os.path.exists(self.ready_file)
        self.ever_ready |= r
        return r

    def events(self):
        out = []
        with open(self.log) as f:
            for line in f:
                try:
                    out.append(json.loads(line).get("event"))
                except ValueError:
                    pass
        return out


class ControlLog:
    """Reads control's JSON log as it grows."""
    def __init__(self, path):
        self.f = open(path)

    def ready_pids(self):
        pids = set()
        for line in self.f.readlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") == "agent_ready":
                pids.add(ev.get("agent_pid"))
        return pids


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server", required=True)
    p.add_argument("--internal", required=True)
    p.add_argument("--internal-token-file", required=True)
    p.add_argument("--control", required=True, help="ws://.../agent")
    p.add_argument("--dead-port", type=int, required=True)
    p.add_argument("--agent", required=True)
    p.add_argument("--control-log", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--kid", default="k1")
    p.add_argument("--issuer", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--sessions", type=int, default=50)
    p.add_argument("--max-replicas", type=int, default=30)
    p.add_argument("--poll", type=float, default=0.5)
    p.add_argument("--dead-every", type=int, default=8)
    p.add_argument("--max-start-delay", type=float, default=1.0)
    p.add_argument("--idle-exit", type=int, default=4)
    p.add_argument("--deadline", type=float, default=50)
    p.add_argument("--keda-before-2-19", action="store_true",
                   help="the old formula, to see the checks catch its overshoot")
    a = p.parse_args()
    random.seed(13)
    token = open(a.internal_token_file).read().strip()
    queue = lambda: http("GET", a.internal + "/api/queue", token=token)  # noqa: E731

    t0 = time.monotonic()
    sids = []
    for i in range(a.sessions):
        r = http("POST", a.server + "/api/sessions",
                 {"command": f"sleep 0.{random.randint(2, 9)}; echo session-{i}-done"})
        sids.append(r["sessionId"])

    jobs, violations, polls, created_total = [], [], 0, 0
    control_log, counted = ControlLog(a.control_log), set()
    warm_target = None
    while time.monotonic() - t0 < a.deadline:
        # KEDA's view: the Jobs first, then the metric. A pod is Ready only after control
        # counted its agent (the agent writes the file once control answered its HELLO; a
        # kubelet probe lags further), so a Job Ready here is already counted in the metric:
        # KEDA may think a Job pending that is counted (and create fewer), never the reverse.
        live = [j for j in jobs if not j.finished()]
        pending = [j for j in live if not j.ready()]
        q = queue()
        warm_target = q["warm_target"]
        polls += 1
        # The invariant, on control's own view at this instant: the agents it has counted
        # are the pids of its "agent_ready" log lines, all written before it answered the
        # queue. What is not busy never exceeds what the queue asks for.
        counted |= control_log.ready_pids()
        not_counted = [j for j in jobs if not j.finished() and j.proc.pid not in counted]
        if q["idle_agents"] + len(not_counted) > q["waiting"] + q["warm_target"]:
            violations.append({"poll": polls, "queue": q, "not_counted": len(not_counted)})
        if len(live) > a.max_replicas:
            violations.append({"poll": polls, "running": len(live), "max": a.max_replicas})
        # KEDA's accurate strategy
        if q["demand"] > 0:
            max_scale = min(a.max_replicas, math.ceil(q["demand"] / 1))
            if max_scale + len(live) > a.max_replicas:
                # KEDA 2.19 and later (kedacore/keda#7329, PR #7417): the pending Jobs count
                # here too; before, this branch created Jobs that found nothing to do
                n = a.max_replicas - len(live)
                if not a.keda_before_2_19:
                    n = min(n, max_scale - len(pending))
            else:
                n = max_scale - len(pending)
            for _ in range(max(0, n)):
                created_total += 1
                jobs.append(Job(created_total, a, created_total % a.dead_every == 0))
        states = [http("GET", f"{a.server}/api/sessions/{s}") for s in sids]
        if all(s["state"] in ("exited", "failed", "cancelled") for s in states) and \
                q["idle_agents"] >= q["warm_target"]:
            break
        time.sleep(a.poll)
    elapsed = time.monotonic() - t0

    states = [http("GET", f"{a.server}/api/sessions/{s}") for s in sids]
    bad = [s for s in states if not (s["state"] == "exited" and s["exitCode"] == 0 and s["verified"])]
    q = queue()
    for j in jobs:
        j.ready()
    # who did what, from each agent's own log
    ran = [j for j in jobs if "session_delivered" in j.events()]
    idle_exited = [j for j in jobs if "idle_exit" in j.events()]
    dead = [j for j in jobs if j.dead]
    warm_now = [j for j in jobs if not j.finished()]
    wasted = [j.n for j in jobs if j.ever_ready and j not in ran and j not in idle_exited
              and j not in warm_now]
    for j in jobs:
        if not j.finished():
            j.proc.terminate()
    for j in jobs:
        try:
            j.proc.wait(5)
        except subprocess.TimeoutExpired:
            j.proc.kill()
    summary = {"sessions": len(sids), "sessions_bad": [(s["sessionId"], s["state"], s["reason"]) for s in bad],
               "jobs_created": created_total, "jobs_dead_url": len(dead),
               "jobs_ran_session": len(ran), "jobs_idle_exited": len(idle_exited),
               "jobs_warm_at_end": len(warm_now), "jobs_wasted": wasted,
               "final_queue": q, "polls": polls, "violations": violations[:5],
               "n_violations": len(violations), "elapsed_s": round(elapsed, 1)}
    print(json.dumps(summary))
    ok = (not bad and not violations and len(ran) == len(sids) and not wasted
          and q["idle_agents"] >= (warm_target or 0) and elapsed < a.deadline)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
