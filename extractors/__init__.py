"""Analysis stages behind one small interface (see extractors.base). No Django, Celery or HTTP in here."""
