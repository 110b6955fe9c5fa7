"""Every page of the web UI. Organization pages live under /o/<slug>/ and go through `org_view`."""

from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path

from postroom.web.security import ThrottledLoginView
from postroom.web.views import (
    audit,
    autoresponse,
    compose,
    configuration,
    crm,
    lead_sources,
    mail,
    mailboxes,
    organizations,
    processing,
    roles,
    status,
    tokens,
    users,
)

org_patterns: list[URLPattern | URLResolver] = [
    path("", organizations.org_home, name="org-home"),
    path("configuration/", configuration.configuration, name="configuration"),
    path(
        "configuration/general-setup/email-configuration/",
        configuration.email_configuration,
        name="email-configuration",
    ),
    path("configuration/lead-sources/", lead_sources.lead_source_list, name="lead-sources"),
    path("configuration/lead-sources/add/", lead_sources.lead_source_add, name="lead-source-add"),
    path(
        "configuration/lead-sources/<int:source_id>/rename/",
        lead_sources.lead_source_rename,
        name="lead-source-rename",
    ),
    path(
        "configuration/lead-sources/<int:source_id>/move/",
        lead_sources.lead_source_move,
        name="lead-source-move",
    ),
    path(
        "configuration/lead-sources/<int:source_id>/retire/",
        lead_sources.lead_source_retire,
        name="lead-source-retire",
    ),
    path(
        "configuration/lead-sources/<int:source_id>/restore/",
        lead_sources.lead_source_restore,
        name="lead-source-restore",
    ),
    path("mailboxes/new/", mailboxes.mailbox_new, name="mailbox-new"),
    path("mailboxes/check/", mailboxes.mailbox_check_new, name="mailbox-check-new"),
    path("mailboxes/<int:mailbox_id>/check/", mailboxes.mailbox_check, name="mailbox-check"),
    path("mailboxes/<int:mailbox_id>/", mailboxes.mailbox_edit, name="mailbox-edit"),
    path("mailboxes/<int:mailbox_id>/delete/", mailboxes.mailbox_delete, name="mailbox-delete"),
    path("audit/", audit.audit_log, name="audit-log"),
    path("roles/", roles.role_list, name="roles"),
    path("roles/new/", roles.role_new, name="role-new"),
    path("roles/<int:role_id>/", roles.role_edit, name="role-edit"),
    path("roles/<int:role_id>/delete/", roles.role_delete, name="role-delete"),
    path("users/", users.user_list, name="users"),
    path("users/add/", users.user_add, name="user-add"),
    path("users/<int:user_id>/", users.user_edit, name="user-edit"),
    path("users/<int:user_id>/remove/", users.user_remove, name="user-remove"),
    path("mail/", mail.mail, name="mail"),
    path("mail/search/", mail.mail_search, name="mail-search"),
    path("mail/mailboxes/<int:mailbox_id>/", mail.mailbox, name="mail-mailbox"),
    path("mail/threads/<int:thread_id>/", mail.thread, name="mail-thread"),
    path("mail/threads/<int:thread_id>/unread/", mail.thread_unread, name="mail-thread-unread"),
    path("mail/attachments/<int:attachment_id>/", mail.attachment, name="mail-attachment"),
    path("mail/messages/<int:message_id>/raw/", mail.raw, name="mail-raw"),
    path("leads/", crm.lead_list, name="leads"),
    path("leads/<int:lead_id>/", crm.lead_detail, name="lead-detail"),
    path("cases/", crm.case_list, name="cases"),
    path("cases/<int:case_id>/", crm.case_detail, name="case-detail"),
    path(
        "mailboxes/<int:mailbox_id>/processing/retry/",
        processing.processing_retry,
        name="processing-retry",
    ),
    path("mailboxes/<int:mailbox_id>/rules/new/", autoresponse.rule_new, name="rule-new"),
    path("mailboxes/<int:mailbox_id>/rules/<int:rule_id>/", autoresponse.rule_edit, name="rule-edit"),
    path(
        "mailboxes/<int:mailbox_id>/rules/<int:rule_id>/delete/", autoresponse.rule_delete, name="rule-delete"
    ),
    path("mailboxes/<int:mailbox_id>/rules/<int:rule_id>/move/", autoresponse.rule_move, name="rule-move"),
    path(
        "mailboxes/<int:mailbox_id>/rules/<int:rule_id>/activate/",
        autoresponse.rule_activate,
        name="rule-activate",
    ),
    path(
        "mailboxes/<int:mailbox_id>/rules/<int:rule_id>/preview/",
        autoresponse.rule_preview,
        name="rule-preview",
    ),
    path(
        "mailboxes/<int:mailbox_id>/rules/<int:rule_id>/save-as-template/",
        autoresponse.rule_save_as_template,
        name="rule-save-as-template",
    ),
    path("mail/messages/<int:message_id>/reply/", compose.mail_reply, name="mail-reply"),
    path("mail/mailboxes/<int:mailbox_id>/compose/", compose.mail_compose, name="mail-compose"),
    path("mail/mailboxes/<int:mailbox_id>/status/", status.mail_status, name="mail-status"),
    path(
        "mail/mailboxes/<int:mailbox_id>/outbox/<int:outgoing_id>/retry/",
        status.outbox_retry,
        name="outbox-retry",
    ),
    path("configuration/templates/", autoresponse.template_list, name="email-templates"),
    path("configuration/templates/new/", autoresponse.template_new, name="email-template-new"),
    path(
        "configuration/templates/<int:template_id>/", autoresponse.template_edit, name="email-template-edit"
    ),
    path(
        "configuration/templates/<int:template_id>/delete/",
        autoresponse.template_delete,
        name="email-template-delete",
    ),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("", organizations.home, name="home"),
    path(
        "login/",
        ThrottledLoginView.as_view(
            template_name="postroom/login.html",
            redirect_authenticated_user=True,
            http_method_names=["get", "post", "options"],
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("organizations/", organizations.organization_list, name="organizations"),
    path("organizations/new/", organizations.organization_new, name="organization-new"),
    path("switch/", organizations.switch, name="switch"),
    path("configuration/", configuration.global_configuration, name="global-configuration"),
    path("account/tokens/", tokens.token_list, name="tokens"),
    path("account/tokens/new/", tokens.token_create, name="token-create"),
    path("account/tokens/<int:token_id>/revoke/", tokens.token_revoke, name="token-revoke"),
    path("o/<slug:slug>/", include(org_patterns)),
]
