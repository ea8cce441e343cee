"""Admin for cases. A case is made and its members change here through the services (`case_create`,
`case_member_set`, `case_member_remove`): audited as in the app, and whoever loses access has their open sockets
check it again."""

from django import forms
from django.contrib import admin

from cases.models import Case, CaseMember
from cases.services import OWN_CASE_REFERENCE, case_create, case_member_remove, case_member_set


class CaseForm(forms.ModelForm):
    def clean_reference(self) -> str:
        reference = self.cleaned_data["reference"].strip()
        if OWN_CASE_REFERENCE.fullmatch(reference):
            raise forms.ValidationError("This form of reference names the case of a single job.")
        return reference


class CaseMemberInline(admin.TabularInline):
    model = CaseMember
    extra = 0
    autocomplete_fields = ["user"]


def _member_save(member: CaseMember) -> None:
    """Save a membership added or edited here: one moved to another user or case is removed from the one that had
    it (who loses access) and made for the other."""
    was = CaseMember.objects.filter(pk=member.pk).select_related("case").first() if member.pk else None
    if was is not None and (was.case_id, was.user_id) != (member.case_id, member.user_id):
        case_member_remove(case=was.case, user_id=was.user_id)
    member.pk = case_member_set(case=member.case, user=member.user, role=member.role).pk


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ["id", "reference", "title", "owner", "created_at"]
    search_fields = ["reference", "title", "description"]
    form = CaseForm
    inlines = [CaseMemberInline]

    def get_readonly_fields(self, request, obj=None):
        return ["reference", "owner", "created_at"] if obj is not None else ["created_at"]

    def save_model(self, request, obj, form, change) -> None:
        if change:
            obj.save(update_fields=[name for name in ("title", "description") if name in form.changed_data])
            return
        obj.pk = case_create(reference=obj.reference, title=obj.title, description=obj.description, owner=obj.owner).pk

    def save_formset(self, request, form, formset, change) -> None:
        formset.save(commit=False)
        for member in formset.deleted_objects:
            case_member_remove(case=member.case, user_id=member.user_id)
        for member in [*formset.new_objects, *(member for member, _ in formset.changed_objects)]:
            _member_save(member)


@admin.register(CaseMember)
class CaseMemberAdmin(admin.ModelAdmin):
    list_display = ["id", "case", "user", "role", "created_at"]
    list_filter = ["role"]
    autocomplete_fields = ["user"]

    def save_model(self, request, obj, form, change) -> None:
        _member_save(obj)

    def delete_model(self, request, obj) -> None:
        case_member_remove(case=obj.case, user_id=obj.user_id)

    def delete_queryset(self, request, queryset) -> None:
        for member in queryset:
            self.delete_model(request, member)
