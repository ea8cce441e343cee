from django.urls import path

from jobs import views
from jobs.progress.consumers import JobListConsumer, JobProgressConsumer

# The job pages; scanner/urls.py serves them with the gallery's (gallery/urls.py) under /jobs/, in the "jobs" namespace.
urlpatterns = [
    path("", views.job_list, name="list"),
    path("new", views.job_new, name="new"),
    path("<int:job_id>/", views.job_detail, name="detail"),
    path("<int:job_id>/progress", views.job_progress, name="progress"),
    path("<int:job_id>/history.csv", views.job_history, name="history"),
    path("<int:job_id>/start", views.job_start_view, name="start"),
    path("<int:job_id>/cancel", views.job_cancel_view, name="cancel"),
    path("<int:job_id>/rerun", views.job_rerun_view, name="rerun"),
    path("<int:job_id>/delete", views.job_delete_view, name="delete"),
    path("<int:job_id>/shares", views.job_share_view, name="share"),
    path("<int:job_id>/shares/<int:user_id>/delete", views.job_unshare_view, name="unshare"),
]

# Live progress (scanner/asgi.py routes WebSocket connections here).
websocket_urlpatterns = [
    path("ws/jobs/", JobListConsumer.as_asgi()),
    path("ws/jobs/<int:job_id>/", JobProgressConsumer.as_asgi()),
]
