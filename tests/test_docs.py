"""The README stays a front page, and every link in it and in docs/ leads somewhere."""

import pathlib
import re

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
README_MAX_LINES = 250
PAGES = [REPO / 'README.md', *sorted((REPO / 'docs').glob('*.md'))]
LINK = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')


def _anchor(heading: str) -> str:
  """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to '-'."""
  return re.sub(r'[^\w\- ]', '', heading.strip().lower()).replace(' ', '-')


def _anchors(page: pathlib.Path):
  text = re.sub(r'```.*?```', '', page.read_text(), flags=re.S)  # no headings in code
  return {_anchor(m.group(1)) for m in re.finditer(r'^#+ (.*)$', text, flags=re.M)}


def _local_links(page: pathlib.Path):
  for target in LINK.findall(page.read_text()):
    if not re.match(r'[a-z]+://', target):
      yield target


def test_readme_is_a_front_page():
  lines = (REPO / 'README.md').read_text().count('\n')
  assert lines <= README_MAX_LINES, f'README.md has {lines} lines: move details to docs/'


def test_the_readme_links_every_docs_page():
  linked = {pathlib.Path(t.partition('#')[0]).name for t in _local_links(REPO / 'README.md')}
  missing = [p.name for p in PAGES[1:] if p.name not in linked]
  assert not missing, f'docs pages the README does not link: {missing}'


def _broken_links(page: pathlib.Path):
  """The local links of `page` whose file is missing, or whose anchor is no heading there."""
  broken = []
  for target in _local_links(page):
    path, _, anchor = target.partition('#')
    resolved = (page.parent / path).resolve() if path else page
    if not resolved.exists():
      broken.append(target)
    elif anchor and resolved.suffix == '.md' and anchor not in _anchors(resolved):
      broken.append(target)
  return broken


@pytest.mark.parametrize('page', PAGES, ids=lambda p: p.name)
def test_every_local_link_resolves(page):
  broken = _broken_links(page)
  assert not broken, f'{page.name}: broken links {broken}'


def test_the_link_check_finds_a_broken_link(tmp_path):
  """On a page with one good and two broken links the check flags exactly those two."""
  (tmp_path / 'other.md').write_text('# Other page\n\n## A section\n')
  page = tmp_path / 'page.md'
  page.write_text('[ok](other.md#a-section) [gone](missing.md) [no anchor](other.md#nope)\n')
  assert _broken_links(page) == ['missing.md', 'other.md#nope']
