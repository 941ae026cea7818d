"""deploy.yaml validation: every error names the field and what to write there."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dosirak.deployers.sagemaker import Image, plan
from dosirak.deployers.sagemaker_config import load, parse, template
from dosirak.errors import ConfigError
from tests.hostile_yaml import billion_laughs

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
GOOD = {"name": "fashion-mnist", "bundle": "fashion_mnist:latest", "region": "eu-west-1", "role_arn": ROLE}


def test_the_generated_template_is_a_valid_config_with_every_documented_key() -> None:
    text = template("fashion-mnist", bundle="fashion_mnist:latest", region="eu-west-1", role_arn=ROLE)
    data = yaml.safe_load(text)
    assert set(data) >= {"name", "bundle", "region", "role_arn", "instance_type", "initial_instance_count",
                         "image_repository", "base_image", "builder", "environment", "timeouts", "autoscaling",
                         "data_capture"}
    config = parse(data)
    assert (config.name, config.region, config.role_arn, config.builder) == ("fashion-mnist", "eu-west-1", ROLE, "auto")
    assert text.count("#") > 20  # commented for a newcomer


@pytest.mark.parametrize(("changes", "expected"), [
    ({"name": "fashion_mnist"}, "name: 'fashion_mnist' cannot name a SageMaker endpoint; write 1-52 ASCII letters"),
    ({"name": "x" * 53}, "cannot name a SageMaker endpoint"),
    ({"name": "../etc"}, "name: '../etc' cannot name a SageMaker endpoint"),
    ({"region": "mars"}, "region: 'mars' is not an AWS region; write an AWS region, e.g. us-east-1"),
    ({"role_arn": "admin"}, "role_arn: 'admin' is not an IAM role ARN; write the ARN of an IAM role"),
    ({"instance_type": "m5.large"}, "instance_type: 'm5.large' is not a SageMaker instance type; write"),
    ({"initial_instance_count": 0}, "initial_instance_count: Input should be greater than or equal to 1; write a whole"),
    ({"image_repository": "Registry/UPPER"}, "image_repository: 'Registry/UPPER' is not a repository"),
    ({"image_repository": "host/repo:tag"}, "is not a repository"),
    ({"builder": "kaniko"}, "builder: Input should be 'auto', 'docker', 'podman' or 'buildah'"),
    ({"bundle": "../../x"}, "bundle: '../../x' is not a bundle tag"),
    ({"environment": {"DB_PASSWORD": "hunter2"}}, "environment: variable 'DB_PASSWORD' holds a credential in clear text"),
    ({"environment": {"1BAD": "x"}}, "environment: '1BAD' is not an environment variable name"),
    ({"autoscaling": {"min_instances": 3, "max_instances": 2}}, "autoscaling: max_instances (2) is below min_instances"),
    ({"data_capture": {"destination_s3_uri": "/tmp/x"}}, "data_capture.destination_s3_uri: is not an S3 URI"),
    ({"data_capture": {"destination_s3_uri": "s3://bucket/p", "sampling_percentage": 101}},
     "data_capture.sampling_percentage: Input should be less than or equal to 100"),
    ({"timeouts": {"endpoint_s": -1}}, "timeouts.endpoint_s: Input should be greater than 0"),
    ({"replicas": 2}, "replicas: is not a known field (known: name, target, bundle"),
    ({"target": "lambda"}, "target: Input should be 'sagemaker'; write sagemaker"),
])
def test_a_bad_field_is_named_with_what_to_write(changes: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as failed:
        parse({**GOOD, **changes})
    assert expected in str(failed.value)
    assert "\n" not in str(failed.value)


def test_missing_region_and_role_are_refused_only_when_applying() -> None:
    config = parse({"name": "fm", "bundle": "fm"})
    with pytest.raises(ConfigError, match=r"region is missing: write an AWS region.*role_arn is missing: write the ARN"):
        config.resolved()


def test_a_credential_reference_is_accepted_and_read_when_planning(monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse({**GOOD, "environment": {"DB_PASSWORD": "{env:FM_DB_PASSWORD}", "MODE": "fast"}})
    monkeypatch.setenv("FM_DB_PASSWORD", "s3cret")
    planned = plan(config, Image("127.0.0.1:5000/fm", "sha256:" + "a" * 64))
    assert planned.model_request["PrimaryContainer"]["Environment"] == {"DB_PASSWORD": "s3cret", "MODE": "fast"}
    monkeypatch.delenv("FM_DB_PASSWORD")
    with pytest.raises(ConfigError, match="FM_DB_PASSWORD"):
        plan(config, Image("127.0.0.1:5000/fm", "sha256:" + "a" * 64))


def test_names_follow_the_image_and_settings_and_fit_sagemakers_limit() -> None:
    config = parse({**GOOD, "name": "x" * 52})
    first = plan(config, Image("127.0.0.1:5000/fm", "sha256:" + "a" * 64))
    same = plan(config, Image("127.0.0.1:5000/fm", "sha256:" + "a" * 64))
    other_image = plan(config, Image("127.0.0.1:5000/fm", "sha256:" + "b" * 64))
    bigger = plan(parse({**GOOD, "name": "x" * 52, "instance_type": "ml.c5.xlarge"}),
                  Image("127.0.0.1:5000/fm", "sha256:" + "a" * 64))
    assert first == same
    assert other_image.model_name != first.model_name and other_image.endpoint_config_name != first.endpoint_config_name
    assert bigger.model_name == first.model_name and bigger.endpoint_config_name != first.endpoint_config_name
    assert max(len(first.model_name), len(first.endpoint_config_name)) == 63


def test_load_reports_unreadable_and_non_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read .*dosirak deploy init"):
        load(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping of fields"):
        load(bad)


def test_load_refuses_a_config_whose_aliases_expand_past_the_bound(tmp_path: Path) -> None:
    bomb = tmp_path / "deploy.yaml"
    bomb.write_text(billion_laughs())
    with pytest.raises(ConfigError, match=f"{bomb} expands to more than 1,000,000 values"):
        load(bomb)


def test_a_syntax_error_in_deploy_yaml_says_where(tmp_path: Path) -> None:
    bad = tmp_path / "deploy.yaml"
    bad.write_text("name: x\nregion: [unclosed\n")
    with pytest.raises(ConfigError, match=f"^{bad} is not valid YAML at line 3, column 1: "):
        load(bad)
