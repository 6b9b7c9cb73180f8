"""The package's layering: no import cycle, and the light modules stay light.

Imports are read from the source (``ast``, module level and inside functions alike), so a cycle
hidden in a function-level import fails here too; what a module pulls in at import time is
checked in a fresh interpreter.
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _modules() -> dict[str, Path]:
  out = {}
  for path in (ROOT / 'restoration').rglob('*.py'):
    parts = list(path.relative_to(ROOT).with_suffix('').parts)
    if parts[-1] == '__init__':
      parts.pop()
    out['.'.join(parts)] = path
  return out


def _import_graph() -> dict[str, set[str]]:
  """``{module: restoration modules it imports}`` (a package's own ``__init__`` excluded)."""
  modules = _modules()

  def resolve(name: str) -> str | None:
    while name and name not in modules:
      name = name.rpartition('.')[0]
    return name if name and name != 'restoration' else None

  graph = {}
  for name, path in modules.items():
    deps = set()
    for node in ast.walk(ast.parse(path.read_text())):
      if isinstance(node, ast.Import):
        deps.update(resolve(a.name) for a in node.names)
      elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        deps.update(resolve(f'{node.module}.{a.name}') for a in node.names)
    graph[name] = deps - {None, name}
  return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
  """One import cycle as a path ``[a, b, ..., a]``, or None."""
  state = {}  # 1: on the current path, 2: done
  path = []

  def visit(v):
    state[v] = 1
    path.append(v)
    for w in sorted(graph[v]):
      if state.get(w) == 1:
        return path[path.index(w) :] + [w]
      if w not in state and (found := visit(w)):
        return found
    state[v] = 2
    path.pop()
    return None

  for v in sorted(graph):
    if v not in state and (found := visit(v)):
      return found
  return None


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
  seen, todo = set(), [start]
  while todo:
    for w in graph[todo.pop()] - seen:
      seen.add(w)
      todo.append(w)
  return seen


def test_cycle_finder_finds_a_cycle():
  assert _cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': set()}) == ['a', 'b', 'c', 'a']
  assert _cycle({'a': {'b'}, 'b': set()}) is None


def test_no_import_cycle_among_restoration_modules():
  graph = _import_graph()
  assert {'restoration.config', 'restoration.methods.base', 'restoration.state'} <= set(graph)
  assert _cycle(graph) is None, ' -> '.join(_cycle(graph))


def test_training_loop_imports_nothing_from_evaluate():
  reached = _reachable(_import_graph(), 'restoration.train.loop')
  assert 'restoration.metrics' in reached
  assert not [m for m in reached if m.startswith('restoration.evaluate')]


def _loaded_after(code: str) -> list[str]:
  """The modules a fresh interpreter holds after running ``code``."""
  out = subprocess.run(
    [sys.executable, '-c', f'{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))'],
    capture_output=True,
    text=True,
    check=True,
    cwd=ROOT,
  ).stdout
  return json.loads(out.splitlines()[-1])


@pytest.mark.parametrize('module', ['restoration.config', 'restoration.inference'])
def test_light_modules_import_neither_tensorflow_nor_the_trainer(module):
  loaded = _loaded_after(f'import {module}')
  assert module in loaded
  assert 'tensorflow' not in loaded
  assert not [m for m in loaded if m.startswith('restoration.train')]


def test_validating_a_config_does_not_import_tensorflow():
  loaded = _loaded_after(
    'from restoration import config\n'
    "c = config.load_config('regression', 'smoke')\n"
    "assert c.data.loader == 'auto'\n"
    'config.validate(c)'
  )
  assert 'restoration.data.pipeline' in loaded
  assert 'tensorflow' not in loaded
