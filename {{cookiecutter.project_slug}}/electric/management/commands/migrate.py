"""`migrate`, through Electric's migrations proxy only (see electric/proxy_guard.py)."""

from django.core.management.commands import migrate
from django.db.models.signals import pre_migrate

from electric import proxy_guard


class Command(migrate.Command):
    help = (
        "Updates the database schema through Electric's migrations proxy: "
        f"`{proxy_guard.MIGRATE_THROUGH_PROXY}`. Other aliases are refused unless "
        "ELECTRIC_SKIP_DDLX is set (a database with no Electric in front)."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--electrify-missing",
            action="store_true",
            help="Electrify the tables that applied migrations electrified but Electric has not "
            "(applied with ELECTRIC_SKIP_DDLX), instead of refusing to migrate.",
        )

    def handle(self, *args, **options):
        database = options["database"]
        proxy_guard.refuse_unreachable(database)
        if options["plan"] or options["check_unapplied"]:
            return super().handle(*args, **options)  # they change nothing

        proxy_guard.refuse_bypassing_the_proxy(database)
        electric_tables = proxy_guard.refuse_drift(
            database, electrify_missing=options["electrify_missing"]
        )

        judged = []

        # Django sends pre_migrate with the plan before it applies or records anything, once
        # for each app: the plan is judged once.
        def refuse_plan(plan, **kwargs):
            if judged:
                return
            judged.append(plan)
            proxy_guard.refuse_unelectrifying(plan)
            if not (options["fake"] or options["fake_initial"]):
                proxy_guard.refuse_what_the_proxy_refuses(
                    plan, database, electric_tables, self.stderr
                )

        pre_migrate.connect(refuse_plan, dispatch_uid=__name__)
        try:
            return super().handle(*args, **options)
        finally:
            pre_migrate.disconnect(dispatch_uid=__name__)
