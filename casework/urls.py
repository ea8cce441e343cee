from django.urls import path

from casework import exports, persons, portable, reports, views

# The case pages; scanner/urls.py serves them under /cases/.
app_name = "casework"
urlpatterns = [
    path("", views.case_list, name="list"),
    path("new", views.case_new, name="new"),
    path("<int:case_id>/", views.case_detail, name="detail"),
    path("<int:case_id>/edit", views.case_edit, name="edit"),
    path("<int:case_id>/export/<str:fmt>", exports.case_export, name="export"),
    path("<int:case_id>/members", views.case_member_add, name="member_add"),
    path("<int:case_id>/members/<int:user_id>/role", views.case_member_role, name="member_role"),
    path("<int:case_id>/members/<int:user_id>/delete", views.case_member_delete, name="member_delete"),
    path("<int:case_id>/portable", portable.case_portable, name="portable"),
    path("<int:case_id>/persons/settings", persons.persons_settings, name="persons_settings"),
    path("<int:case_id>/persons/<int:person_id>/", persons.person_page, name="person"),
    path("<int:case_id>/persons/<int:person_id>/change", persons.person_change, name="person_change"),
    path("<int:case_id>/faces/<int:face_id>/crop", persons.face_crop, name="face_crop"),
    path("<int:case_id>/reports", reports.report_new, name="report_new"),
    path("<int:case_id>/reports/<int:report_id>/progress", reports.report_status, name="report_progress"),
    path("<int:case_id>/reports/<int:report_id>/download", reports.report_download, name="report_download"),
]

# The downloads of one job's exports: scanner/urls.py serves them with the job pages, in the "jobs" namespace.
job_urlpatterns = [
    path("<int:job_id>/export/<str:fmt>", exports.job_export, name="export"),
]
