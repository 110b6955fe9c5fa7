"""Forms that only the web UI needs. The mailbox form is shared (postroom.mailboxes.forms)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from postroom.accounts.models import User
from postroom.organizations import config
from postroom.organizations.members import ALREADY_MEMBER, ROLE_NAME_TAKEN, is_member, role_name_taken
from postroom.organizations.models import Organization, Role

# ModelForm is generic only in the type stubs; subscripting it at runtime raises TypeError.
if TYPE_CHECKING:
    _OrganizationModelForm = forms.ModelForm[Organization]
    _RoleModelForm = forms.ModelForm[Role]
else:
    _OrganizationModelForm = _RoleModelForm = forms.ModelForm


class OrganizationForm(_OrganizationModelForm):
    class Meta:
        model = Organization
        fields = ["name", "slug"]
        help_texts = {"slug": "Used in addresses, e.g. /o/acme/. Lowercase letters, digits and dashes."}


class RoleForm(_RoleModelForm):
    class Meta:
        model = Role
        fields = ["name", "description", "can_configure"]
        labels = {"can_configure": "May configure the organization"}

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        if role_name_taken(self.organization, name, self.instance):
            raise ValidationError(ROLE_NAME_TAKEN)
        return name

    def save(self, commit: bool = True) -> Role:
        role = super().save(commit=False)
        role.organization = self.organization
        if commit:
            role.save()
        return role


class MembershipForm(forms.Form):
    """Roles and the admin flag of one member; only this organization's roles are valid choices."""

    roles = forms.ModelMultipleChoiceField(
        queryset=Role.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    is_admin = forms.BooleanField(
        label="Organization admin",
        required=False,
        help_text="Organization admins configure everything and manage users and roles.",
    )

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization
        self.fields["roles"].queryset = Role.objects.filter(  # type: ignore[attr-defined]
            organization=organization
        )


class AddUserForm(MembershipForm):
    """Add a member by email. An unknown email creates the user, which needs a name and a password."""

    field_order = ["email", "full_name", "password", "roles", "is_admin"]

    email = forms.EmailField(label="Email")
    full_name = forms.CharField(
        label="Full name", required=False, max_length=200, help_text="Needed when the user is new."
    )
    password = forms.CharField(
        label="Initial password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Needed when the user is new; they can change it later.",
    )

    def existing_user(self) -> User | None:
        return User.objects.filter(email__iexact=self.cleaned_data.get("email", "")).first()

    def clean_email(self) -> str:
        email: str = self.cleaned_data["email"].strip().lower()
        if is_member(self.organization, email):
            raise ValidationError(ALREADY_MEMBER)
        return email

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "email" not in data or self.existing_user() is not None:
            return data
        if not (data.get("full_name") or "").strip():
            self.add_error("full_name", "Enter the new user's full name.")
        password = data.get("password") or ""
        if not password:
            self.add_error("password", "Enter an initial password for the new user.")
        else:
            probe = User(email=data["email"], full_name=data.get("full_name") or "")
            try:
                validate_password(password, user=probe)
            except ValidationError as error:
                self.add_error("password", error)
        return data


class TokenForm(forms.Form):
    name = forms.CharField(label="Token name", max_length=100, help_text="What will use this token?")


class LeadSourceLabelForm(forms.Form):
    label = forms.CharField(label="Label", max_length=100)


def _value_field(decl: config.Setting) -> forms.Field:
    common: dict[str, Any] = {"label": decl.label, "help_text": decl.help, "required": False}
    if decl.choices:
        return forms.ChoiceField(choices=decl.choices, **common)
    if decl.kind is int:
        return forms.IntegerField(min_value=decl.minimum, max_value=decl.maximum, **common)
    return forms.CharField(**common)


def field_name(key: str) -> str:
    """A form field name for a setting key (dots are awkward in templates)."""
    return key.replace(".", "__")


class SettingsForm(forms.Form):
    """The SETTINGS of one scope. With an organization, each setting has a "Use global" checkbox:
    checked means no override. Without one, the form edits the global values.
    """

    def __init__(self, *args: Any, organization: Organization | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization
        own = config.overrides(organization) if organization is not None else {}
        for decl in config.SETTINGS:
            name = field_name(decl.key)
            self.fields[name] = _value_field(decl)
            if organization is None:
                self.initial.setdefault(name, config.global_value(decl.key))
                continue
            self.fields[f"{name}__use_global"] = forms.BooleanField(label="Use global", required=False)
            self.initial.setdefault(name, own.get(decl.key, config.global_value(decl.key)))
            self.initial.setdefault(f"{name}__use_global", decl.key not in own)

    def rows(self) -> list[dict[str, Any]]:
        """One row per setting for the template: its fields and the global value."""
        rows = []
        for decl in config.SETTINGS:
            name = field_name(decl.key)
            rows.append(
                {
                    "setting": decl,
                    "value": self[name],
                    "use_global": self[f"{name}__use_global"] if self.organization is not None else None,
                    "global_value": config.global_value(decl.key),
                }
            )
        return rows

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for decl in config.SETTINGS:
            name = field_name(decl.key)
            if data.get(f"{name}__use_global") or name in self.errors:
                continue
            raw = data.get(name)
            if raw is None or raw == "":
                self.add_error(name, "Enter a value, or tick “Use global”.")
                continue
            try:
                data[name] = config.clean_value(decl.key, raw)
            except ValueError as error:
                self.add_error(name, str(error))
        return data

    def save(self) -> None:
        for decl in config.SETTINGS:
            name = field_name(decl.key)
            if self.organization is not None and self.cleaned_data.get(f"{name}__use_global"):
                config.use_global(decl.key, self.organization)
            else:
                config.set_value(decl.key, self.cleaned_data[name], self.organization)


class EmailLoginForm(AuthenticationForm):
    """Log in by email. Addresses are stored lowercased, so the typed one is lowercased too."""

    def clean_username(self) -> str:
        return str(self.cleaned_data.get("username") or "").strip().lower()
