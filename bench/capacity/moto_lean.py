"""tools/moto_server.py for the sweep benchmark, without moto's whole-table
backup on every TransactWriteItems.

moto deep-copies the whole table once per transaction item before a
TransactWriteItems, so that a cancelled transaction can be rolled back. With
100,000 orders seeded that is seconds and gigabytes per transaction. Here a
table is not copied: a cancelled transaction would not be rolled back. The
benchmark checks that no transaction of the counted sweep fails, so what it
measures is unaffected; the server is used for nothing else.
"""

import copy
import os
import runpy
import sys
import types

import moto.dynamodb.models as models


def _deepcopy(value, memo=None):
    if isinstance(value, models.Table):
        return value
    return copy.deepcopy(value, memo)


models.copy = types.SimpleNamespace(deepcopy=_deepcopy, copy=copy.copy)

server = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "moto_server.py")
sys.argv[0] = server
runpy.run_path(server, run_name="__main__")
