from django.urls import path

from gallery import views as gallery
from jobs import views
from jobs.consumers import JobListConsumer, JobProgressConsumer

app_name = "jobs"
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
    path("<int:job_id>/gallery/", gallery.gallery, name="gallery"),
    path("<int:job_id>/gallery/more", gallery.gallery_more, name="gallery_more"),
    path("<int:job_id>/gallery/options", gallery.gallery_options, name="gallery_options"),
    path("<int:job_id>/map/", gallery.job_map, name="map"),
    path("<int:job_id>/map/points", gallery.job_map_points, name="map_points"),
    path("<int:job_id>/images/<int:image_id>/", gallery.image_panel, name="image"),
    path("<int:job_id>/images/<int:image_id>/thumb", gallery.thumbnail, name="thumb"),
    path("<int:job_id>/images/<int:image_id>/preview", gallery.preview, name="preview"),
    path("<int:job_id>/files/<int:file_id>/original", gallery.original, name="original"),
    path("<int:job_id>/faces/<int:face_id>/crop", gallery.face_crop, name="face_crop"),
]

# Live progress (scanner/asgi.py routes WebSocket connections here).
websocket_urlpatterns = [
    path("ws/jobs/", JobListConsumer.as_asgi()),
    path("ws/jobs/<int:job_id>/", JobProgressConsumer.as_asgi()),
]
