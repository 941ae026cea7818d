"""The whole Fashion-MNIST flow on one machine: set up, train, deploy, predict.

    python examples/fashion_mnist/run.py [--dataset auto|fashion_mnist|digits] [--data-dir DIR]
                                         [--port 3001] [--min-accuracy 0.8] [--epochs 4]

It registers the local deployer and a stack using it (once), runs the training pipeline
(which deploys the model as a local HTTP service when it is accurate enough), then the
inference pipeline, and prints where the service is and what it predicted. Run it again
and the new model replaces the old service without downtime.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def ensure_stack() -> None:
    """Register ``local_deployer`` and ``local_stack`` (default orchestrator and artifact store) if missing."""
    from dosirak.errors import NotFoundError
    from dosirak.metadata.store import get_store
    from dosirak.stack.flavors import flavor_class

    store = get_store()
    try:
        store.stacks.get_component("model-deployer", "local_deployer")
    except NotFoundError:
        config = flavor_class("model-deployer", "local").validate_config({})
        store.stacks.register_component("model-deployer", "local_deployer", "local", config)
        print("registered model-deployer local_deployer (flavor local)")
    try:
        store.stacks.get_stack("local_stack")
    except NotFoundError:
        store.stacks.register_stack("local_stack", {"orchestrator": "default", "artifact-store": "default",
                                             "model-deployer": "local_deployer"})
        print("registered stack local_stack")
    if store.stacks.active_stack_name() != "local_stack":
        store.stacks.set_active_stack("local_stack")
        print("active stack: local_stack")


def choose_dataset(wanted: str, data_dir: str | None) -> str:
    """``auto``: Fashion-MNIST when its files are at hand or downloadable, else the embedded digits."""
    if wanted != "auto":
        return wanted
    import httpx
    from fmnist.data import FILES, MIRROR

    from dosirak.settings import get_settings

    places = [Path(data_dir)] if data_dir else []
    places.append(get_settings().home / "datasets" / "fashion_mnist")
    if any(all((p / name).is_file() for name in FILES) for p in places):
        return "fashion_mnist"
    try:
        httpx.head(MIRROR, timeout=3.0)
    except httpx.HTTPError as exc:
        print(f"Fashion-MNIST cannot be downloaded here ({type(exc).__name__}); "
              "using the embedded offline dataset (scikit-learn digits, scaled to 28x28)")
        return "digits"
    return "fashion_mnist"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="auto", choices=["auto", "fashion_mnist", "digits"])
    parser.add_argument("--data-dir", default=None, help="directory holding the four Fashion-MNIST .gz files")
    parser.add_argument("--port", type=int, default=3001)
    parser.add_argument("--min-accuracy", type=float, default=0.8)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--count", type=int, default=8, help="images to send to the service")
    args = parser.parse_args(argv)

    # no logging set up: warnings print bare, as Python does; the runs show their steps (DOSIRAK_PROGRESS)
    started = time.perf_counter()
    from pipelines import inference_fashion_mnist, training_fashion_mnist

    ensure_stack()
    dataset = choose_dataset(args.dataset, args.data_dir)
    steps: dict[str, dict[str, object]] = {"trainer": {"parameters": {"epochs": args.epochs}}}
    if args.data_dir:
        steps["importer"] = {"parameters": {"data_dir": args.data_dir}}
    training = training_fashion_mnist.run(config={
        "parameters": {"dataset": dataset, "min_accuracy": args.min_accuracy, "port": args.port}, "steps": steps})
    deployment = training.steps["model_deployer"].outputs["deployment"].load()
    accuracy = training.steps["evaluator"].outputs["accuracy"].load()
    print(f"\ntraining run {training.name}: accuracy {accuracy:.4f}")
    if not deployment["deployed"]:
        print(f"not deployed: {deployment['reason']}")
        return 1
    inference = inference_fashion_mnist.run(dataset=dataset, count=args.count)
    predictions = inference.steps["predictor"].outputs["predictions"].load()
    right = sum(p["ndarray"] == p["truth"] for p in predictions)
    print(f"\nservice:     {deployment['url']}")
    print(f"swagger ui:  {deployment['docs_url']}")
    print(f"deployment:  {deployment['deployment_id'][:8]}  (dosirak deployment describe {deployment['deployment_id'][:8]})")
    print(f"predictions: {right}/{len(predictions)} right; first: "
          + ", ".join(p["ndarray"] for p in predictions[:4]))
    print(f"done in {time.perf_counter() - started:.1f} s; stop the service with "
          f"`dosirak deployment stop {deployment['deployment_id'][:8]}`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
