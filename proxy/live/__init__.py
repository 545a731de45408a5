"""Live reconcile: the gateway follows its config directory while it serves (pull mode), or takes pushes.

    watch.py      file-system events → "something changed" (debounced, filtered, git-aware)
    loop.py       LiveReconciler: load → validate → plan → apply, last known good, persisted state
    lifecycle.py  the running state: declared workspaces plus archived copies of removed ones
    report.py     StatusBoard: the status each outcome leaves, its sentences and log lines
    status.py     ReconcileStatus and GET /api/v1/reconcile/status
    push.py       push mode: GET /api/v1/reconcile/state, POST /api/v1/reconcile/apply

See docs/live-reconcile.md.
"""

from proxy.live.loop import Applied, LiveReconciler, Pushed, Startup
from proxy.live.push import reconcile_router
from proxy.live.status import Reason, ReconcileStatus, reconcile_status

__all__ = [
    "Applied",
    "LiveReconciler",
    "Pushed",
    "Reason",
    "ReconcileStatus",
    "Startup",
    "reconcile_router",
    "reconcile_status",
]
