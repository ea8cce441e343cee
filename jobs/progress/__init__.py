"""A job's progress: `snapshot` reads it from the database, `publisher` sends it live to browsers, `consumers` are
their sockets, `waiting` names what a job waits for that no worker will bring, `terminal` draws it for
`manage.py scan`."""
