"""The action server registers exactly the custom actions the domain lists (as `rasa run actions
--actions actions` does), so a missing or broken action fails here, not at start-up."""

from rasa_sdk.executor import ActionExecutor

from tests.bot.conftest import DOMAIN


def test_action_server_registers_the_domain_actions():
    executor = ActionExecutor()
    executor.register_package("actions")
    assert set(executor.actions) == set(DOMAIN["actions"])
