"""Admin for cases and category schemes. A case is made, edited and deleted, and its members change, here through
the services (`case_create`, `case_update`, `case_delete`, `case_member_set`, `case_member_remove`): audited as in the
app, and whoever loses access has their open sockets check it again. A change that would leave a case with no lead is
a form error. Staff assign sources to cases on their own page, through `case_source_assign` and
`case_source_unassign` (audited); an assignment is made or taken back, never changed.

Staff define category schemes here: a built-in scheme is shown read-only, a custom one is edited with its categories
inline; a scheme (or category) that a case uses is not deleted (the admin lists what protects it). Each change to a
scheme is in the audit log (`scheme.create`, `scheme.update`, `scheme.delete`)."""

from django import forms
from django.contrib import admin, messages

from audit.services import audit_record
from cases.models import OWN_CASE_REFERENCE, Case, CaseMember, CaseSource, Category, CategoryScheme
from cases.services import (
    CaseRefused,
    case_create,
    case_delete,
    case_member_remove,
    case_member_set,
    case_source_assign,
    case_source_unassign,
    case_update,
    source_name_checked,
)

NO_LEAD = "A case must keep a lead: make another member lead first."


class CaseForm(forms.ModelForm):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "scheme" in self.fields:  # a new case: the general scheme unless another is chosen
            self.fields["scheme"].required = False
            self.fields["scheme"].help_text = "Chosen once; by default the general scheme."

    def clean_reference(self) -> str:
        reference = self.cleaned_data["reference"].strip()
        if OWN_CASE_REFERENCE.fullmatch(reference):
            raise forms.ValidationError("This form of reference names the case of a single job.")
        return reference


class CaseMemberFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        """A case that has a lead keeps one: the memberships as they will be, once saved (those posted, and those
        not), still name a lead."""
        super().clean()
        if self.instance.pk is None:
            return
        leads = self.instance.members.filter(role=CaseMember.Role.LEAD)
        posted = [form for form in self.forms if form.instance.pk or form.has_changed()]
        if not leads.exists() or leads.exclude(pk__in=[form.instance.pk for form in posted]).exists():
            return
        kept = [form.cleaned_data for form in posted if form.cleaned_data and not form.cleaned_data.get("DELETE")]
        if not any(data.get("role") == CaseMember.Role.LEAD for data in kept):
            raise forms.ValidationError(NO_LEAD)


class CaseMemberInline(admin.TabularInline):
    model = CaseMember
    formset = CaseMemberFormSet
    extra = 0
    autocomplete_fields = ["user"]


def _member_save(member: CaseMember) -> None:
    """Save a membership added or edited here: one moved to another user or case is removed from the one that had
    it (who loses access) once made for the other (a lead moved keeps the case led)."""
    was = CaseMember.objects.filter(pk=member.pk).select_related("case").first() if member.pk else None
    member.pk = case_member_set(case=member.case, user=member.user, role=member.role).pk
    if was is not None and (was.case_id, was.user_id) != (member.case_id, member.user_id):
        case_member_remove(case=was.case, user_id=was.user_id)


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ["id", "reference", "title", "owner", "scheme", "created_at"]
    search_fields = ["reference", "title", "description"]
    form = CaseForm
    inlines = [CaseMemberInline]

    def get_readonly_fields(self, request, obj=None):
        return ["reference", "owner", "scheme", "created_at"] if obj is not None else ["created_at"]

    def save_model(self, request, obj, form, change) -> None:
        if change:
            case_update(case=obj, fields=form.changed_data)
            return
        obj.pk = case_create(
            reference=obj.reference,
            title=obj.title,
            description=obj.description,
            owner=obj.owner,
            scheme=form.cleaned_data.get("scheme"),
        ).pk

    def save_formset(self, request, form, formset, change) -> None:
        formset.save(commit=False)
        # New leads first and removals last, so that the case has a lead at every step.
        changed = [*formset.new_objects, *(member for member, _ in formset.changed_objects)]
        for member in sorted(changed, key=lambda member: member.role != CaseMember.Role.LEAD):
            _member_save(member)
        for member in formset.deleted_objects:
            case_member_remove(case=member.case, user_id=member.user_id)

    def delete_model(self, request, obj) -> None:
        case_delete(case=obj)

    def delete_queryset(self, request, queryset) -> None:
        for case in queryset:
            case_delete(case=case)


class CaseMemberForm(forms.ModelForm):
    def clean(self) -> dict:
        """The case's last lead is not lowered, nor moved to another case or user."""
        data = super().clean()
        was = CaseMember.objects.filter(pk=self.instance.pk).first() if self.instance.pk else None
        if (
            was is not None
            and was.role == CaseMember.Role.LEAD
            and (data.get("role"), data.get("case"), data.get("user")) != (was.role, was.case, was.user)
            and not was.case.members.filter(role=CaseMember.Role.LEAD).exclude(pk=was.pk).exists()
        ):
            raise forms.ValidationError(NO_LEAD)
        return data


@admin.register(CaseMember)
class CaseMemberAdmin(admin.ModelAdmin):
    list_display = ["id", "case", "user", "role", "created_at"]
    list_filter = ["role"]
    autocomplete_fields = ["user"]
    form = CaseMemberForm

    def save_model(self, request, obj, form, change) -> None:
        _member_save(obj)

    def delete_model(self, request, obj) -> None:
        try:
            case_member_remove(case=obj.case, user_id=obj.user_id)
        except CaseRefused as exc:
            self.message_user(request, str(exc), messages.ERROR)

    def delete_queryset(self, request, queryset) -> None:
        for member in queryset:
            self.delete_model(request, member)


def _built_in(scheme: CategoryScheme | None) -> bool:
    return scheme is not None and scheme.built_in


class CategoryFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        """A key sets one category of a scheme only (category_key_once, which holds for keys given only and so is
        not checked among the forms of a formset by Django)."""
        super().clean()
        kept = [form.cleaned_data for form in self.forms if form.cleaned_data and not form.cleaned_data.get("DELETE")]
        keys = [data["key"] for data in kept if data.get("key")]
        twice = sorted({key for key in keys if keys.count(key) > 1})
        if twice:
            raise forms.ValidationError(f"A key sets one category only: {', '.join(twice)} is given to several.")


class CategoryInline(admin.TabularInline):
    model = Category
    formset = CategoryFormSet
    extra = 0
    fields = ["position", "code", "label", "key", "needs_confirmation", "sensitive", "clears"]

    def has_add_permission(self, request, obj=None) -> bool:
        return not _built_in(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return not _built_in(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return not _built_in(obj) and super().has_delete_permission(request, obj)


@admin.register(CategoryScheme)
class CategorySchemeAdmin(admin.ModelAdmin):
    list_display = ["name", "built_in", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["built_in", "created_at"]
    inlines = [CategoryInline]

    def has_change_permission(self, request, obj=None) -> bool:
        return not _built_in(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return not _built_in(obj) and super().has_delete_permission(request, obj)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        changed = list(form.changed_data)
        for formset in formsets:
            changed += [f"category {category.code} added" for category in formset.new_objects]
            changed += [f"category {category.code} changed" for category, _ in formset.changed_objects]
            changed += [f"category {category.code} deleted" for category in formset.deleted_objects]
        if change and not changed:
            return
        action = "scheme.update" if change else "scheme.create"
        audit_record(action, target=form.instance.name, detail=", ".join(changed))

    def delete_model(self, request, obj) -> None:
        name = obj.name
        super().delete_model(request, obj)
        audit_record("scheme.delete", target=name)

    def delete_queryset(self, request, queryset) -> None:
        for scheme in queryset.exclude(built_in=True):
            self.delete_model(request, scheme)


class CaseSourceForm(forms.ModelForm):
    def clean_name(self) -> str:
        try:
            return source_name_checked(self.cleaned_data["name"])
        except CaseRefused as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(CaseSource)
class CaseSourceAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "case", "assigned_by", "assigned_at"]
    search_fields = ["name", "case__reference", "case__title"]
    autocomplete_fields = ["case"]
    form = CaseSourceForm

    def get_readonly_fields(self, request, obj=None):
        return ["case", "name", "assigned_by", "assigned_at"] if obj is not None else ["assigned_by", "assigned_at"]

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.pk = case_source_assign(case=obj.case, name=obj.name, by=request.user).pk

    def delete_model(self, request, obj) -> None:
        case_source_unassign(case=obj.case, name=obj.name, by=request.user)

    def delete_queryset(self, request, queryset) -> None:
        for source in queryset.select_related("case"):
            self.delete_model(request, source)
