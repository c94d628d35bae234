"""The host loop every agent shares: compiled update chunks, evaluation, logging, checkpoints.

The loop owns all I/O; what it drives is pure (`update`, `evaluate`). It resumes from the
state it is given, so a run restored from a checkpoint continues where it stopped.
"""

import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import jax
import ml_collections
import numpy as np

from imitation import config_rules as rules
from imitation import progress
from imitation.data.device_dataset import DeviceDataset
from imitation.data.streaming import Stream
from imitation.errors import ConfigError, TrainingError
from imitation.training import checkpoint as checkpoint_lib
from imitation.training import members as members_lib
from imitation.training import metric_writer
from imitation.training import chunk as chunk_lib


def check_finite(first_nonfinite: Dict[str, Any], chunk_start: int,
                 checkpointer: checkpoint_lib.Checkpointer,
                 members: Optional[Sequence[members_lib.Member]] = None) -> None:
  """The NaN guard: raises a TrainingError naming the first update (and metric, and member)
  whose metrics went nan or inf in the chunk that started at `chunk_start`, so nothing
  after it is saved or logged and no good checkpoint is rotated out."""
  bad = {name: np.ravel(index) for name, index in first_nonfinite.items()
         if (np.asarray(index) >= 0).any()}
  if not bad:
    return
  first = min(int(v[v >= 0].min()) for v in bad.values())
  names = sorted(name for name, v in bad.items() if first in v)
  member = ''
  if members:
    index = next(i for i, v in enumerate(np.ravel(first_nonfinite[names[0]])) if v == first)
    member = f' of member {members[index].label}'
  checkpointer.wait_until_finished()
  last = checkpointer.latest_step()
  kept = (f'the last good checkpoint, step {last}, is kept' if last is not None
          else 'no checkpoint was saved')
  raise TrainingError(
      f'training diverged at step {chunk_start + first + 1}{member}: {", ".join(names)} '
      f'became nan or inf; stopped without saving ({kept}); lower optimizer.learning_rate '
      'or check the data for nan or inf')


def _read_chunks(pending: Sequence[Tuple[int, Dict[str, Any]]],
                 checkpointer: checkpoint_lib.Checkpointer,
                 members: Optional[Sequence[members_lib.Member]]) -> Dict[str, Any]:
  """The metrics of the chunks run since the last log, fetched in one transfer and each
  checked by the NaN guard (in order, so the first divergence is named); their mean, per
  member too when there are members."""
  fetched = jax.device_get([metrics for _, metrics in pending])
  for (chunk_start, _), metrics in zip(pending, fetched):
    check_finite(metrics.pop(chunk_lib.FIRST_NONFINITE), chunk_start, checkpointer, members)
  mean = jax.tree.map(lambda *values: np.mean(np.stack(values), axis=0), *fetched)
  return members_lib.summarize_metrics(mean, members) if members else mean


def fit(
    state: Any,
    dataset: Union[DeviceDataset, Stream],
    *,
    config: ml_collections.ConfigDict,
    checkpointer: checkpoint_lib.Checkpointer,
    writer: metric_writer.MetricWriter,
    evaluate: Optional[Callable[[Any], Dict[str, float]]] = None,
    after_eval: Optional[Callable[[Any, Dict[str, Any]], Tuple[Any, Dict[str, Any]]]] = None,
    progress_bar: bool = True,
    stop_at_step: Optional[int] = None,
    members: Optional[Sequence[members_lib.Member]] = None,
    chunk: Callable[..., Any],
) -> Tuple[Any, Optional[Dict[str, float]]]:
  """Trains from `state.step` to `config.num_steps` (the `train` config section).

  Args:
    state: the train state to continue from (step 0 or a restored checkpoint).
    dataset: device-resident training data, sampled on device; or a `Stream` of batches
      read from disk, whose position is saved with each checkpoint.
    config: the `train` config section. Train metrics are fetched, checked and logged
      (their mean since the last log) every `log_every` steps and at each evaluation,
      checkpoint, stop and the end; between those the host only dispatches chunks, so a
      chunk that diverged is named at the next of them, before anything is saved.
    checkpointer: saves the state every `checkpoint_every` steps and at the end.
    writer: receives train metrics every `log_every` steps and eval metrics every `eval_every`.
    evaluate: evaluation of a state (closed-loop, or offline on held-out data), called
      every `eval_every` steps.
    after_eval: `after_eval(state, evaluation) -> (state, metrics)` after each evaluation
      (before the checkpoint of that step, which so holds its changes); metrics are logged.
    progress_bar: show a tqdm bar.
    stop_at_step: stop early once this step is reached, as a preempted job would.
    members: when set, `state` and `dataset` are stacked over these members and trained by
      one vmapped chunk (training/members.py); train metrics are logged as their mean
      and per member, and `evaluate` summarises every member itself.
    chunk: the compiled update chunk (`chunk.make_chunk`) to run; the run frame keeps one
      per learner across fits (DAgger's rounds).

  Returns:
    The final train state, and the metrics of the evaluation run at `config.num_steps`
    (None if this call did not reach it, e.g. stopped early or already finished).
  """
  streaming = isinstance(dataset, Stream)
  if streaming and members:
    raise ConfigError('members (num_seeds > 1 or vmap) need data.pipeline=device')
  step = int(np.ravel(jax.device_get(state.step))[0])  # stacked members share the step
  log_every = config.get('log_every') or config.steps_per_call
  bar = progress.bar(total=config.num_steps, initial=step, unit='step', desc='train',
                     disable=not progress_bar)
  last_time, logged_step = time.time(), step
  final_eval = None
  pending: List[Tuple[int, Dict[str, Any]]] = []  # (first step, metrics) of unread chunks
  waited, data_state = 0.0, None
  while step < config.num_steps:
    if streaming:
      wait_start = time.time()
      batches, data_state = dataset.next_chunk()
      waited += time.time() - wait_start
      state, metrics = chunk(state, batches)
    else:
      state, metrics = chunk(state, dataset)
    pending.append((step, metrics))
    step += config.steps_per_call
    evaluating = evaluate is not None and (step % config.eval_every == 0
                                           or step == config.num_steps)
    saving = step % config.checkpoint_every == 0 or step == config.num_steps
    stopping = stop_at_step is not None and step >= stop_at_step
    if not (evaluating or saving or stopping or step - logged_step >= log_every):
      continue  # the chunk runs on while the host dispatches the next one
    metrics = _read_chunks(pending, checkpointer, members)
    pending = []
    if streaming:  # time the loop stood waiting for input: ~0 when the pipeline keeps up
      metrics['data_wait_s'], waited = waited, 0.0
    now = time.time()
    metrics['steps_per_second'] = (step - logged_step) / (now - last_time)
    last_time = now
    writer.write(step, metrics, prefix='train/')
    postfix = {'loss': f'{float(metrics["loss"]):.4f}'}
    if evaluating:
      eval_start = time.time()
      eval_metrics = evaluate(state)
      writer.write(step, {**eval_metrics, 'seconds': time.time() - eval_start}, prefix='eval/')
      if after_eval is not None:
        state, adapted = after_eval(state, eval_metrics)
        writer.write(step, adapted, prefix='eval/')
      if eval_metrics.get('success_rate') is not None:
        postfix['success'] = f'{eval_metrics["success_rate"]:.3f}'
      elif eval_metrics.get('r2') is not None:  # offline runs: held-out action R^2
        postfix['r2'] = f'{eval_metrics["r2"]:.3f}'
      if step == config.num_steps:
        final_eval = eval_metrics
      last_time = time.time()  # keep evaluation out of the update throughput
    if saving:
      checkpointer.save(step, state, data_state)
      writer.flush()
    bar.set_postfix(postfix, refresh=False)
    bar.update(step - logged_step)
    logged_step = step
    if stopping:
      break
  bar.close()
  checkpointer.wait_until_finished()
  return state, final_eval


CONFIG_RULES = {
    'train.num_steps': rules.positive_int(),
    'train.batch_size': rules.positive_int(),
    'train.steps_per_call': rules.positive_int(),
    'train.scan_unroll': rules.positive_int(),
    'train.eval_every': rules.positive_int(),
    'train.checkpoint_every': rules.positive_int(),
    'train.keep_checkpoints': rules.positive_int(),
    'train.log_every': rules.positive_int(),
}


def config_problems(config) -> List[str]:
  """Step counts are whole numbers of compiled chunks."""
  train = rules.lookup(config, 'train')
  if train is rules.MISSING or 'steps_per_call' not in train:
    return []
  return [f'train.{key}={train[key]}: expected a multiple of '
          f'train.steps_per_call={train.steps_per_call}'
          for key in ('num_steps', 'eval_every', 'checkpoint_every')
          if key in train and train[key] % train.steps_per_call]
