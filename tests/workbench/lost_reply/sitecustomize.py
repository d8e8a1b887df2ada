"""Put this directory on a process's PYTHONPATH with CHAOS_LOSE_FETCH_REPLIES=queue,queue.DQ@2
and the first fetch of `queue` that takes messages (the second of `queue.DQ`) runs in Redis and
then raises the timeout a frozen Redis causes: the messages are in the worker's set of unacked
messages, its reply is lost. What SIGSTOP on redis-server does now and then (bench/chaos.py's
broker-freeze), made certain for tests/faults/test_redis_outage.py."""

import os

if queues := os.environ.get("CHAOS_LOSE_FETCH_REPLIES"):
    import sys
    import threading

    import redis
    from redis.commands.core import Script

    #: queue -> how many of its fetches that take messages to let through before losing one
    _to_lose = {q: int(n or 1) - 1 for q, _, n in (e.partition("@") for e in queues.split(","))}
    _lock = threading.Lock()
    _run_script = Script.__call__

    def _losing_replies(self, keys=None, args=None, client=None):
        result = _run_script(self, keys, args, client)
        arguments = list(args or [])  # Dramatiq's dispatch script: command, time, queue, ...
        command, queue = (arguments[0], str(arguments[2])) if len(arguments) > 2 else ("", "")
        if command == "fetch" and isinstance(result, list) and result:
            with _lock:
                lose = _to_lose.get(queue) == 0
                if queue in _to_lose:
                    _to_lose[queue] -= 1
            if lose:
                print(f"lost-reply: a fetch of {len(result)} from {queue}", file=sys.stderr)
                raise redis.TimeoutError("Timeout reading from socket (reply lost on purpose)")
        return result

    Script.__call__ = _losing_replies  # type: ignore[method-assign]
