from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.repositories import RepoFactory, RepoSet

# Every repository backend the contract suite runs on; each names a
# `<backend>_repos_factory` fixture (tests/support/).
REPOSITORY_BACKENDS = ["memory", "sqlite", "mongo"]


@pytest.fixture(params=REPOSITORY_BACKENDS)
def repos_factory(request: pytest.FixtureRequest) -> RepoFactory:
    factory: RepoFactory = request.getfixturevalue(f"{request.param}_repos_factory")
    return factory


@pytest.fixture
async def repos(repos_factory: RepoFactory) -> AsyncIterator[RepoSet]:
    repo_set = await repos_factory()
    try:
        yield repo_set
    finally:
        await repo_set.aclose()
