"""The scan pipeline as it runs: `tasks` are the thin Celery adapters, `routing` picks their queues, `scanning` runs
discovery in slices, `stages` runs an analysis stage over a batch, `recovery` sends lost work again, `inprocess` runs
the stages on one thread of the process (the embedded configuration). The canvas they send is `jobs.canvas`."""
