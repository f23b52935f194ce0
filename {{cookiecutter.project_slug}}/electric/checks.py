"""System checks: will Electric 0.12 accept our migrations and the models they electrify?

Electric judges a schema only when a migration runs through its proxy, usually at deploy time.
These checks judge it at `./manage.py check` (and so at runserver, migrate, which they stop, and
in the tests), reading the migrations on disk, no database needed:
- every operation on an electrified model that the proxy would refuse (electric/operation_rules.py),
  naming the migration, the field, Electric's error code and the safe way to the same result;
- each electrified model as it was when its migration electrified it, and as it is now
  (electric/rules.py), and its foreign keys to tables Electric does not sync.
Each kind of finding has its own id, for SILENCED_SYSTEM_CHECKS.
"""

from django.apps import apps
from django.core import checks
from django.db.migrations.exceptions import BadMigrationError, NodeNotFoundError

from electric.rules import check_electrifiable, check_references

TAG = "electric"


@checks.register(checks.Tags.models, TAG)
def check_electric_schema(app_configs=None, **kwargs):
    # Imported here: the judges (and their parser) would cost the start-up of every command,
    # those that run no checks included.
    from electric.schema_history import SchemaHistory

    try:
        history = SchemaHistory.from_disk()
    except (BadMigrationError, NodeNotFoundError, ImportError, SyntaxError) as error:
        # Django reports a broken migration graph itself; the model checks cannot run without it.
        return [
            checks.Warning(
                f"Electric's checks could not read the migrations: {error}",
                id="electric.W100",
            )
        ]
    messages = history_messages(history)
    if app_configs is not None:
        labels = {app_config.label for app_config in app_configs}
        messages = [
            message
            for message in messages
            if message.obj is None or _app_label(message.obj) in labels
        ]
    return messages


def history_messages(history, migrations=None):
    """Everything the history says is wrong; only about `migrations`, when given."""
    findings = [
        finding
        for finding in history.findings
        if migrations is None or finding.migration in migrations
    ]
    messages = [finding_message(finding) for finding in findings]
    if migrations is not None:
        return messages
    judged = {(finding.model_label, finding.refusal.field) for finding in findings}
    return messages + list(_model_messages(history, judged))


def finding_message(finding):
    refusal = finding.refusal
    on_model = f"on electrified {finding.model_label}, " if finding.model_label else ""
    code = f" ({refusal.electric_code})" if refusal.electric_code else ""
    level = checks.Warning if refusal.warning else checks.Error
    return level(
        f'{finding.migration_label}: {on_model}"{finding.operation.describe()}" '
        f"{refusal.problem}; {refusal.consequence}{code}.",
        hint=refusal.fix,
        obj=_model_or_none(finding.model_label),
        id=refusal.check_id,
    )


def _model_messages(history, judged):
    """Each electrified model as ENABLE saw it, then as it is now, each problem said once."""
    current = {key: _model_or_none(".".join(key)) for key in history.electrified}
    current = {key: model for key, model in current.items() if model is not None}
    now = {key: check_electrifiable(model) for key, model in current.items()}

    for electrification in history.electrifications:
        key = electrification.model_key
        said_now = {(m.id, getattr(m.obj, "name", None)) for m in now.get(key, [])}
        then = electrification.model
        for message in check_electrifiable(then) if then else []:
            field = getattr(message.obj, "name", None)
            if (message.id, field) in said_now or isinstance(message, checks.Warning):
                continue  # said below, about the model as it is now
            migration = electrification.migration
            yield type(message)(
                f"{migration.app_label}.{migration.name}: ENABLE ELECTRIC runs while "
                f"{message.msg} Electric's proxy refuses it there.",
                hint="Fix it before the table is electrified: in the migration that creates the "
                f"field, or in one that runs before {migration.name} (a later fix is itself "
                f"refused). The rule: {message.hint}",
                obj=current.get(key),
                id=message.id,
            )

    electrified_models = set(current.values())
    for key, model in current.items():
        for message in [*now[key], *check_references(model, electrified_models)]:
            if (model._meta.label, getattr(message.obj, "name", None)) not in judged:
                yield message


def electrified_models(history=None):
    """The models that the migrations on disk electrify and that still exist."""
    from electric.schema_history import SchemaHistory

    history = history or SchemaHistory.from_disk()
    return [model for key in history.electrified if (model := _model_or_none(".".join(key)))]


def _model_or_none(label):
    if not label:
        return None
    try:
        return apps.get_model(label)
    except LookupError:
        return None


def _app_label(obj):
    """The app of a model, or of a field's model."""
    return (getattr(obj, "_meta", None) or obj.model._meta).app_label
