from django.urls import path

from verification import views

# Under /jobs/ (scanner/urls.py), beside the job pages, in the "verification" namespace.
app_name = "verification"
urlpatterns = [
    path("<int:job_id>/verify", views.verification_start_view, name="start"),
    path("<int:job_id>/verifications/", views.verification_list, name="list"),
    path("verifications/<int:run_id>/", views.verification_detail, name="detail"),
    path("verifications/<int:run_id>/progress", views.verification_progress_view, name="progress"),
]
