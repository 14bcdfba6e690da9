from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ktune.inference.plugins.lookup.service_settings import service_settings
from ansible_collections.ktune.inference.plugins.module_utils.ktransformers import (
    READER_SETTINGS,
    SECRET_PLACEHOLDER,
    instances_without_secrets,
    merged_settings,
)


def test_unset_settings_are_null_which_the_readers_take_as_the_roles_defaults():
    answer = service_settings({})
    assert list(answer) == list(READER_SETTINGS)
    assert set(answer.values()) == {None}
    assert merged_settings(answer)["host"] == "127.0.0.1"


def test_each_setting_is_read_from_its_ktune_service_variable():
    given = dict(("ktune_service_" + name, "value-of-" + name) for name in READER_SETTINGS if name != "api_key")
    answer = service_settings(dict(given, ktune_cpu_governor="performance", ktune_service_instances=[{}]))
    assert answer == dict((name, "value-of-" + name) for name in READER_SETTINGS if name != "api_key") | {"api_key": None}


def test_a_set_key_is_the_placeholder_never_the_key():
    answer = service_settings({"ktune_service_api_key": "sk-canary-8f2e"})
    assert answer["api_key"] == SECRET_PLACEHOLDER
    assert "sk-canary-8f2e" not in repr(answer)
    assert answer["api_key"] == instances_without_secrets("sk-canary-8f2e")


def test_an_empty_key_is_no_key():
    assert service_settings({"ktune_service_api_key": ""})["api_key"] is None


def inline_vault_value(plaintext):
    """An inline !vault value as the lookup receives it: on ansible-core 2.16-2.18 the real
    AnsibleVaultEncryptedUnicode (no str); later cores decrypt on templating, so a stand-in with
    the same marker."""
    from ansible.parsing.yaml.objects import AnsibleVaultEncryptedUnicode
    if hasattr(AnsibleVaultEncryptedUnicode, "from_plaintext"):
        from ansible.parsing.vault import VaultLib, VaultSecret
        secret = VaultSecret(b"test-vault-password")
        return AnsibleVaultEncryptedUnicode.from_plaintext(plaintext, VaultLib([("default", secret)]), secret)

    class Encrypted(object):
        __ENCRYPTED__ = True

        def __len__(self):
            return len(plaintext)

        def __str__(self):
            return plaintext

    return Encrypted()


def test_an_inline_vault_key_is_the_placeholder_never_the_key():
    key = inline_vault_value("sk-vaulted-canary-31c")
    assert service_settings({"ktune_service_api_key": key})["api_key"] == SECRET_PLACEHOLDER
    assert instances_without_secrets(key) == SECRET_PLACEHOLDER
    assert "sk-vaulted-canary-31c" not in repr(service_settings({"ktune_service_api_key": key}))
