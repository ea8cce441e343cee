from django.urls import path

from casework import persons, views

# The case pages; scanner/urls.py serves them under /cases/.
app_name = "casework"
urlpatterns = [
    path("", views.case_list, name="list"),
    path("new", views.case_new, name="new"),
    path("<int:case_id>/", views.case_detail, name="detail"),
    path("<int:case_id>/edit", views.case_edit, name="edit"),
    path("<int:case_id>/members", views.case_member_add, name="member_add"),
    path("<int:case_id>/members/<int:user_id>/role", views.case_member_role, name="member_role"),
    path("<int:case_id>/members/<int:user_id>/delete", views.case_member_delete, name="member_delete"),
    path("<int:case_id>/persons/settings", persons.persons_settings, name="persons_settings"),
    path("<int:case_id>/persons/<int:person_id>/", persons.person_page, name="person"),
    path("<int:case_id>/persons/<int:person_id>/change", persons.person_change, name="person_change"),
    path("<int:case_id>/faces/<int:face_id>/crop", persons.face_crop, name="face_crop"),
]
