#!/usr/bin/env python3
"""Local stand-in for what AWS does around the mail queue (dev and test tooling only).

  create-queues   creates the SQS queues of infra/template.yaml on the local SQS endpoint
                  (moto's server mode), with the template's retention, visibility timeout and
                  redrive policy. Each queue is named after the URL its environment variable
                  has locally (MAIL_QUEUE_URL, ...), as the local tables are.
  run             plays Lambda's SQS event source mapping for every function of the template
                  that has an SQS event: receives batches of the event's BatchSize, at most
                  ScalingConfig.MaximumConcurrency at once, invokes the function through
                  `cargo lambda watch`'s Invoke API with the event Lambda would send, deletes
                  what succeeded and leaves the reported batch item failures to come back when
                  their visibility timeout ends (the queue's redrive policy dead-letters them).
                  With --state-file it keeps there what the tests' mail barrier
                  (tests/support: mail_queue_settled) reads: each poller's current and last
                  receive, and every message it received and has not deleted yet.

The functions never know: they only see the SDK's standard AWS_ENDPOINT_URL_SQS variable.
"""

import argparse
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

import boto3
import yaml


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref X -> {"Ref": "X"}, !GetAtt A.B -> {...})."""


def _tagged(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    name = "Ref" if suffix == "Ref" else "Fn::" + suffix
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {name: value}


CfnLoader.add_multi_constructor("!", _tagged)


def load_template(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=CfnLoader)


def log(message):
    print(f"[local sqs] {message}", flush=True)


def sqs_client():
    endpoint = os.environ.get("AWS_ENDPOINT_URL_SQS")
    if not endpoint:
        sys.exit("error: AWS_ENDPOINT_URL_SQS is not set (the local SQS endpoint)")
    return boto3.client("sqs", endpoint_url=endpoint, region_name=os.environ.get("AWS_REGION", "ap-northeast-1"))


def queue_urls(template):
    """Template queue resource name -> its local URL, read from the environment variable that
    the template's Globals bind to it (`MAIL_QUEUE_URL: !Ref MailQueue`)."""
    variables = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    resources = template["Resources"]
    urls = {}
    for variable, value in variables.items():
        target = value.get("Ref") if isinstance(value, dict) else None
        if target and resources.get(target, {}).get("Type") == "AWS::SQS::Queue":
            url = os.environ.get(variable)
            if not url:
                sys.exit(f"error: {variable} is not set; it names the local queue of {target}")
            urls[target] = url
    return urls


def create_queues(args):
    template = load_template(args.template)
    client = sqs_client()
    resources = template["Resources"]
    urls = queue_urls(template)
    arns = {}
    # Dead-letter queues first: a redrive policy names its target's ARN.
    ordered = sorted(urls, key=lambda name: "RedrivePolicy" in resources[name].get("Properties", {}))
    for name in ordered:
        properties = resources[name].get("Properties", {})
        attributes = {}
        for key in ("MessageRetentionPeriod", "VisibilityTimeout", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"):
            if key in properties:
                attributes[key] = str(properties[key])
        if properties.get("SqsManagedSseEnabled"):
            attributes["SqsManagedSseEnabled"] = "true"
        redrive = properties.get("RedrivePolicy")
        if redrive:
            target = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arns[target], "maxReceiveCount": int(redrive["maxReceiveCount"])}
            )
        queue_name = urls[name].rstrip("/").rsplit("/", 1)[-1]
        try:
            client.get_queue_url(QueueName=queue_name)
            state = "already exists"
        except client.exceptions.QueueDoesNotExist:
            state = "created"
        url = client.create_queue(QueueName=queue_name, Attributes=attributes)["QueueUrl"]
        arns[name] = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        log(f"queue {queue_name} ({name}): {state}")


def mappings(template, concurrency_override):
    """Every (function binary, queue resource, batch size, max concurrency) of the template."""
    parameters = template.get("Parameters", {})
    found = []
    for name, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary", name)
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") != "SQS":
                continue
            props = event["Properties"]
            queue = props["Queue"]["Fn::GetAtt"][0]
            concurrency = props.get("ScalingConfig", {}).get("MaximumConcurrency", 1000)
            if isinstance(concurrency, dict):
                concurrency = parameters[concurrency["Ref"]]["Default"]
            if concurrency_override:
                concurrency = concurrency_override
            found.append((binary, queue, int(props.get("BatchSize", 10)), int(concurrency)))
    return found


def now_ms():
    return int(time.time() * 1000)


class State:
    """What the pollers hold, written whole to a file on every change (a rename, so a reader never
    sees half of it). A message sent before time T is gone from the queue once every poller is
    waiting in a receive and its last receive began after T and returned less than a full batch
    (so it took every visible message), and no message sent before T is still held or waiting to
    come back after a failure: moto's own state (/moto-api/data.json) cannot say this, as it keeps
    deleted messages and does not say which queue a message is in."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.pollers = {}
        self.held = {}

    def _write(self):
        if not self.path:
            return
        temporary = f"{self.path}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump({"pollers": self.pollers, "held": self.held}, handle)
        os.replace(temporary, self.path)

    def receiving(self, poller, started):
        with self.lock:
            entry = self.pollers.setdefault(poller, {"last": None})
            entry["receiving_since"] = started
            self._write()

    def received(self, poller, started, messages, batch_size):
        with self.lock:
            entry = self.pollers[poller]
            entry["receiving_since"] = None
            entry["last"] = {"started": started, "ended": now_ms(), "count": len(messages), "batch": batch_size}
            for m in messages:
                sent = int(m.get("Attributes", {}).get("SentTimestamp", 0))
                self.held[m["MessageId"]] = {"sent": sent, "state": "delivering"}
            self._write()

    def settled(self, deleted, kept):
        with self.lock:
            for message_id in deleted:
                self.held.pop(message_id, None)
            for message_id in kept:
                if message_id in self.held:
                    self.held[message_id]["state"] = "failed, waiting to come back"
            self._write()


class Mapping:
    def __init__(self, client, invoke_url, function, queue_url, batch_size, region, state):
        self.client = client
        self.state = state
        self.function = function
        self.queue_url = queue_url
        self.batch_size = batch_size
        self.region = region
        self.invoke = f"{invoke_url.rstrip('/')}/2015-03-31/functions/{function}/invocations"
        self.arn = client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    def event(self, messages):
        return {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": m.get("MessageAttributes", {}),
                    "md5OfBody": m.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.arn,
                    "awsRegion": self.region,
                }
                for m in messages
            ]
        }

    def call_function(self, messages):
        """The ids that failed: all of them when the invocation itself failed."""
        every_id = {m["MessageId"] for m in messages}
        request = urllib.request.Request(
            self.invoke,
            data=json.dumps(self.event(messages)).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=900) as response:
                answer = json.loads(response.read() or b"{}")
        except (urllib.error.URLError, OSError, ValueError) as error:
            log(f"{self.function} could not be invoked ({type(error).__name__}); the batch will be retried")
            return every_id
        if not isinstance(answer, dict) or "errorType" in answer:
            log(f"{self.function} failed ({answer.get('errorType') if isinstance(answer, dict) else '?'}); batch retried")
            return every_id
        failures = answer.get("batchItemFailures") or []
        failed = {f.get("itemIdentifier") for f in failures}
        if not failed <= every_id:
            return every_id  # an unknown identifier fails the whole batch, as Lambda does
        return failed

    def poll_forever(self, poller):
        while True:
            started = now_ms()
            self.state.receiving(poller, started)
            try:
                messages = self.client.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=self.batch_size,
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception as error:  # the emulator restarting: try again shortly
                log(f"receive failed ({type(error).__name__}); retrying")
                time.sleep(1)
                continue
            self.state.received(poller, started, messages, self.batch_size)
            if not messages:
                continue
            failed = self.call_function(messages)
            done = [m for m in messages if m["MessageId"] not in failed]
            deleted = []
            for message in done:
                try:
                    self.client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
                    deleted.append(message["MessageId"])
                except Exception as error:
                    log(f"delete failed ({type(error).__name__}); the message will come back")
            self.state.settled(deleted, [m["MessageId"] for m in messages if m["MessageId"] not in deleted])
            log(f"{self.function}: batch of {len(messages)}, {len(done)} done, {len(failed)} to retry")


def run(args):
    template = load_template(args.template)
    client = sqs_client()
    urls = queue_urls(template)
    region = os.environ.get("AWS_REGION", "ap-northeast-1")
    threads = []
    state = State(args.state_file)
    for function, queue, batch_size, concurrency in mappings(template, args.max_concurrency):
        mapping = Mapping(client, args.invoke_url, function, urls[queue], batch_size, region, state)
        log(f"{queue} -> {function}: batches of up to {batch_size}, at most {concurrency} at once")
        for number in range(concurrency):
            thread = threading.Thread(target=mapping.poll_forever, args=(f"{function}#{number}",), daemon=True)
            thread.start()
            threads.append(thread)
    if not threads:
        sys.exit("error: the template has no function with an SQS event")
    for thread in threads:
        thread.join()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", default="infra/template.yaml")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("create-queues", help="create the template's queues on AWS_ENDPOINT_URL_SQS")
    runner = commands.add_parser("run", help="deliver the queues to their functions until stopped")
    runner.add_argument("--invoke-url", required=True, help="cargo lambda watch's address, e.g. http://127.0.0.1:9000")
    runner.add_argument("--max-concurrency", type=int, default=0, help="override ScalingConfig.MaximumConcurrency")
    runner.add_argument("--state-file", default="", help="where to keep the pollers' state for the tests' mail barrier")
    args = parser.parse_args()
    try:
        {"create-queues": create_queues, "run": run}[args.command](args)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
