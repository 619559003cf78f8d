from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from wimslti.models import Base
from wimslti.models.migrations import is_current


class TestMigrations:
    def test_the_migrated_schema_is_the_models_schema(self, db_engine):
        with db_engine.connect() as connection:
            differences = compare_metadata(
                MigrationContext.configure(connection), Base.metadata
            )

        assert differences == []

    def test_a_migrated_database_is_current(self, db_engine):
        assert is_current(db_engine)
