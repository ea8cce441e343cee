"""The Redis result backend as the scanner's processes use it: Celery's, except that a worker never listens for the
results of the tasks it sends.

Celery's Redis backend subscribes its result consumer (a pub/sub connection) to the result of every task of a group
or chord header it sends, so that the sender could wait on them. A task sends them too: discovery dispatches each
batch's chord, the stalled-work sweep dispatches them again. Nothing in a worker waits on a result (a task never
joins another's), so those subscriptions serve nothing, pile up for as long as the process lives, and put the
result consumer between discovery and the broker: when Redis goes away between publishing a stage task and
subscribing to its result, the consumer tries to reconnect for the backend's retry budget (about 20 s) and then
raises a bare RuntimeError ("Retry limit exceeded while trying to reconnect to the Celery result store backend"),
which no caller can tell from a bug, and the job would fail in an outage that discovery is meant to wait out.

In a worker (where Celery sets `task_join_will_block`, the switch by which it refuses to wait on a result inside a
task, and by which its own `on_task_call` already skips the subscription of a single task) the results of sent groups
are not subscribed to. A process that may wait (the web server, the command line) keeps Celery's behaviour.
"""

from celery._state import task_join_will_block
from celery.backends.redis import RedisBackend


class SendingRedisBackend(RedisBackend):
    def add_pending_result(self, result, weak=False, start_drainer=True):
        if task_join_will_block():  # in a worker: nobody here will wait for it
            return result
        return super().add_pending_result(result, weak=weak, start_drainer=start_drainer)
