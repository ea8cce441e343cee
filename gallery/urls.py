"""The gallery's pages and the routes that serve pictures and originals, all of one job: scanner/urls.py serves them
with the job pages (jobs/urls.py) under /jobs/, in the "jobs" namespace."""

from django.urls import path

from gallery import views

urlpatterns = [
    path("<int:job_id>/gallery/", views.gallery, name="gallery"),
    path("<int:job_id>/gallery/more", views.gallery_more, name="gallery_more"),
    path("<int:job_id>/gallery/options", views.gallery_options, name="gallery_options"),
    path("<int:job_id>/gallery/folders", views.gallery_folders, name="gallery_folders"),
    path("<int:job_id>/map/", views.job_map, name="map"),
    path("<int:job_id>/map/points", views.job_map_points, name="map_points"),
    path("<int:job_id>/images/<int:image_id>/", views.image_panel, name="image"),
    path("<int:job_id>/images/<int:image_id>/thumb", views.thumbnail, name="thumb"),
    path("<int:job_id>/images/<int:image_id>/preview", views.preview, name="preview"),
    path("<int:job_id>/files/<int:file_id>/original", views.original, name="original"),
    path("<int:job_id>/faces/<int:face_id>/crop", views.face_crop, name="face_crop"),
]
