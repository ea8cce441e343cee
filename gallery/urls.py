"""The gallery's pages and the routes that serve pictures and originals, all of one job: scanner/urls.py serves them
with the job pages (jobs/urls.py) under /jobs/, in the "jobs" namespace."""

from django.urls import path

from gallery import facesearch, review_views, similar, views

urlpatterns = [
    path("<int:job_id>/gallery/", views.gallery, name="gallery"),
    path("<int:job_id>/gallery/more", views.gallery_more, name="gallery_more"),
    path("<int:job_id>/gallery/options", views.gallery_options, name="gallery_options"),
    path("<int:job_id>/gallery/folders", views.gallery_folders, name="gallery_folders"),
    path("<int:job_id>/map/", views.job_map, name="map"),
    path("<int:job_id>/map/points", views.job_map_points, name="map_points"),
    path("<int:job_id>/images/<int:image_id>/", views.image_panel, name="image"),
    path("<int:job_id>/images/<int:image_id>/similar", similar.similar_pane, name="image_similar"),
    path("<int:job_id>/images/<int:image_id>/thumb", views.thumbnail, name="thumb"),
    path("<int:job_id>/images/<int:image_id>/preview", views.preview, name="preview"),
    path("<int:job_id>/files/<int:file_id>/original", views.original, name="original"),
    path("<int:job_id>/faces/<int:face_id>/crop", views.face_crop, name="face_crop"),
    path("<int:job_id>/faces/search", facesearch.face_search, name="face_search"),
    path("<int:job_id>/search", facesearch.word_search, name="word_search"),
    path("<int:job_id>/review/categorise", review_views.categorise, name="review_categorise"),
    path("<int:job_id>/review/confirm", review_views.confirm, name="review_confirm"),
    path("<int:job_id>/review/bookmark", review_views.bookmark, name="review_bookmark"),
    path("<int:job_id>/review/note", review_views.note, name="review_note"),
    path("<int:job_id>/review/reviewed", review_views.mark_reviewed, name="review_reviewed"),
    path("<int:job_id>/review/viewer", review_views.viewer, name="review_viewer"),
    path("<int:job_id>/review/decisions", review_views.decisions, name="review_decisions"),
    path("<int:job_id>/review/group/<int:image_id>", review_views.group, name="review_group"),
]
