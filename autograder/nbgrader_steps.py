"""Two of nbgrader's autograding steps with the same results at a fraction of the cost.

Per submission of a1 (21 test cells, 11 answer cells), nbgrader's own steps spend:
- `SaveAutoGrades`: a database commit after every grade and every comment (32 commits, each
  one a sync of the SQLite file to disk: 0.2-0.5 s). `SaveAutoGradesOnce` writes the same rows
  in one transaction per notebook (and nothing, if it fails half way).
- `CheckCellMetadata` (twice): `jsonschema.validate` for every cell, which checks the schema
  itself again at every call (0.1 s). `CheckCellMetadataOnce` validates each cell against a
  validator built once; the checks, their order and their errors are nbgrader's.
"""

from __future__ import annotations

import contextlib
import functools
import json

from nbgrader.preprocessors import CheckCellMetadata, SaveAutoGrades


class SaveAutoGradesOnce(SaveAutoGrades):
    """nbgrader's SaveAutoGrades, committing once per notebook instead of once per cell."""

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook
        from nbgrader.preprocessors import NbGraderPreprocessor

        info = resources["nbgrader"]
        self.notebook_id, self.assignment_id = info["notebook"], info["assignment"]
        self.student_id, self.db_url = info["student"], info["db_url"]
        self.gradebook = Gradebook(self.db_url)
        with self.gradebook:
            session = self.gradebook.db
            # _add_score and _add_comment end with session.commit(): a flush here (the rows are
            # written, the transaction stays open), one commit at the end.
            session.commit = session.flush
            try:
                nb, resources = NbGraderPreprocessor.preprocess(self, nb, resources)
            except BaseException:
                session.rollback()
                raise
            finally:
                del session.commit
            session.commit()
        return nb, resources


class _Jsonschema:
    """Stands in for the jsonschema module inside nbgrader.nbgraderformat.common while a notebook
    is checked: `validate` as jsonschema's (the schema checked, the best error raised), with the
    validator of each schema built once."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        return getattr(self._module, name)

    def validate(self, instance, schema, *args, **kwargs):
        if args or kwargs:
            return self._module.validate(instance, schema, *args, **kwargs)
        error = self._module.exceptions.best_match(_validator(json.dumps(schema, sort_keys=True))
                                                   .iter_errors(instance))
        if error is not None:
            raise error


@functools.lru_cache(maxsize=8)
def _validator(schema_json: str):
    import jsonschema

    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@contextlib.contextmanager
def _cached_validation():
    from nbgrader.nbgraderformat import common

    module = common.jsonschema
    common.jsonschema = _Jsonschema(module)
    try:
        yield
    finally:
        common.jsonschema = module


class CheckCellMetadataOnce(CheckCellMetadata):
    """nbgrader's CheckCellMetadata, with the schema's validator built once."""

    def preprocess(self, nb, resources):
        with _cached_validation():
            return super().preprocess(nb, resources)
