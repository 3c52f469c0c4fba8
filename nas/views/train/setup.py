"""RunSetup: what defines a training run (network source, dataset, input size, seed, recipe); a resume must match."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from nas.views.source import Source
from nas.views.train.errors import TrainError
from nas.views.train.recipe import Recipe


@dataclass(frozen=True)
class RunSetup:
    """A training run: `source`'s network trained on `dataset` at `resolution` px (the proxy input), `seed` for the
    weights, the data split and the batch order, at most `train_examples` training images (None: all), `recipe`
    (resolved: no None left). `threads` is not part of it (results are the same for a thread count on CPU)."""

    source: Source
    dataset: str
    resolution: int
    seed: int
    train_examples: int | None
    recipe: Recipe

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source.to_dict(), "dataset": self.dataset, "resolution": self.resolution,
                "seed": self.seed, "train_examples": self.train_examples, "recipe": self.recipe.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunSetup":
        try:
            return cls(source=Source.from_dict(data["source"]), dataset=data["dataset"],
                       resolution=int(data["resolution"]), seed=int(data["seed"]),
                       train_examples=data.get("train_examples"), recipe=Recipe.from_dict(data["recipe"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise TrainError(f"damaged training record ({type(exc).__name__}: {exc})") from None

    def check_same(self, given: Mapping[str, Any]) -> None:
        """Raise TrainError when an option given for a resume (name -> value, None = not given) differs from this run.

        "arch" takes the network spec given (--arch / --trial / --best).
        """
        recorded = {"arch": self.source.spec.arch_id, "dataset": self.dataset, "resolution": self.resolution,
                    "seed": self.seed, "train-examples": self.train_examples,
                    **{k.replace("_", "-"): v for k, v in self.recipe.to_dict().items()}}
        for option, value in given.items():
            if option == "arch" and value is not None:  # a spec; an --arch network was sized for the dataset
                value = value.with_classes(self.source.spec.num_classes).arch_id
            if value is not None and option in recorded and value != recorded[option]:
                raise TrainError(f"--{option} {value} differs from the interrupted run's {recorded[option]}; a resumed "
                                 f"run keeps its settings (drop the option, or train into another --out)")
