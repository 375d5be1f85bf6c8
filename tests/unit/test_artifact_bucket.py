"""The stack's artifact bucket: its default name (``dlqctl-artifacts-ACCOUNT-REGION``) is one
anyone can guess, so a bucket of that name that another account created first must not get
the function packages the stack's Lambdas run. S3 answers 403 to a request whose
``ExpectedBucketOwner`` is not the bucket's owner (S3 user guide, "Verifying bucket ownership
with bucket owner condition"); no local endpoint checks it, so the answers are stubbed
(botocore Stubber, with the requests AWS would receive)."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from dlqctl.aws import Aws, Connection
from dlqctl.errors import UsageError

ACCOUNT = "123456789012"
BUCKET = f"dlqctl-artifacts-{ACCOUNT}-us-east-1"


@pytest.fixture
def s3():
    aws = Aws(
        Connection(
            region="us-east-1", endpoint_url="http://127.0.0.1:9", static_credentials=("a", "b")
        )
    )
    with Stubber(aws.client("s3")) as stubber:
        yield aws, stubber
        stubber.assert_no_pending_responses()


def test_a_bucket_of_the_default_name_owned_by_another_account_is_refused(s3):
    aws, stubber = s3
    stubber.add_client_error(
        "head_bucket", "403", "Forbidden", 403,
        expected_params={"Bucket": BUCKET, "ExpectedBucketOwner": ACCOUNT},
    )  # fmt: skip
    with pytest.raises(UsageError, match=f"bucket {BUCKET} exists and is not account"):
        aws.s3.ensure_bucket(BUCKET, ACCOUNT)


def test_the_packages_go_only_to_a_bucket_of_this_account(s3):
    aws, stubber = s3
    stubber.add_response("head_bucket", {}, {"Bucket": BUCKET, "ExpectedBucketOwner": ACCOUNT})
    stubber.add_response(
        "put_object", {},
        {"Bucket": BUCKET, "Key": "k.zip", "Body": b"zip", "ExpectedBucketOwner": ACCOUNT},
    )  # fmt: skip
    aws.s3.ensure_bucket(BUCKET, ACCOUNT)
    aws.s3.put(BUCKET, "k.zip", b"zip", ACCOUNT)


def test_a_bucket_the_operator_names_is_used_as_it_is(s3):
    aws, stubber = s3
    stubber.add_response("head_bucket", {}, {"Bucket": "shared-artifacts"})
    aws.s3.ensure_bucket("shared-artifacts")
