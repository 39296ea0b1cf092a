"""FAST PATH. The same A2C and PPO as agent.py, with the optimizer step reorganised for speed; a first reading
can skip this file.

`FastAgent` is what train.py runs by default (`--no-fast` runs the textbook `Agent`). It changes how a gradient
step is carried out, never what it computes: tests/test_fast.py starts both from one seed and checks that they
reach the same weights, for A2C and PPO, RMSprop and Adam, separate and shared networks.

On CartPole's A2C (8 envs x 5 steps: 40 rows per update, 64-64 networks) the arithmetic is tiny and the cost
is torch's bookkeeping around it: the profile of a textbook gradient step put a third of its time in
`RMSprop.step` and most of the rest in per-call overhead (README, "Making it fast"). So:

1. Gradients from `torch.autograd.grad`: nothing is stored in `.grad`, so nothing needs zeroing.
2. Clipping: per network, as the textbook does, the norm of the per-tensor norms (`torch._foreach_norm`),
   and the gradients rescaled only when the norm is over the limit (most steps are not).
3. One optimizer over both networks' tensors, stepped in a few foreach calls: RMSprop written out (five
   calls, the arithmetic `torch.optim.RMSprop` does), Adam through the fused kernel `torch.optim.Adam(fused=True)`
   runs, without the classes' per-step state gathering, grouping and hooks.
"""
import torch

from agent import Agent


class FastRMSprop:
    """RMSprop (no momentum, not centred, no weight decay: A2C's) over `params`, given the gradients directly:
        v <- alpha v + (1 - alpha) g^2,    p <- p - lr g / (sqrt(v) + eps)
    `param_groups[0]["lr"]` is read at every step, so Agent.learn's learning-rate decay works unchanged."""

    def __init__(self, params, lr, alpha=0.99, eps=1e-5):
        self.params, self.alpha, self.eps = list(params), alpha, eps
        self.param_groups = [dict(params=self.params, lr=lr)]
        self.square_avgs = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self, grads):
        torch._foreach_mul_(self.square_avgs, self.alpha)
        torch._foreach_addcmul_(self.square_avgs, grads, grads, value=1.0 - self.alpha)
        denominators = torch._foreach_sqrt(self.square_avgs)
        torch._foreach_add_(denominators, self.eps)
        torch._foreach_addcdiv_(self.params, grads, denominators, value=-self.param_groups[0]["lr"])


class FastAdam:
    """Adam over `params` through torch's fused kernel, given the gradients directly (two calls a step)."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-5):
        self.params, self.betas, self.eps = list(params), betas, eps
        self.param_groups = [dict(params=self.params, lr=lr)]
        self.exp_avgs = [torch.zeros_like(p) for p in self.params]     # first moment, m
        self.exp_avg_sqs = [torch.zeros_like(p) for p in self.params]  # second moment, v
        self.step_count = torch.zeros(())
        self.steps = [self.step_count] * len(self.params)

    @torch.no_grad()
    def step(self, grads):
        self.step_count += 1
        torch._fused_adam_(self.params, list(grads), self.exp_avgs, self.exp_avg_sqs, [], self.steps,
                           lr=self.param_groups[0]["lr"], beta1=self.betas[0], beta2=self.betas[1],
                           weight_decay=0.0, eps=self.eps, amsgrad=False, maximize=False)


def clip_grad_norm(grads, max_norm):
    """Scale `grads` in place so that their joint L2 norm is at most `max_norm` (what
    torch.nn.utils.clip_grad_norm_ computes, which always rescales: on a CPU the check is free)."""
    norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    if norm > max_norm:
        torch._foreach_mul_(grads, max_norm / (norm + 1e-6))


class FastAgent(Agent):
    """`Agent` with the optimizer step above; collection, GAE, the losses, evaluation and the loop are Agent's."""

    def __init__(self, config, observation_space, action_space, device="cpu"):
        super().__init__(config, observation_space, action_space, device)
        # the textbook's optimizers, one per network, are replaced by one over all tensors; clipping stays per network
        self.groups = [optimizer.param_groups[0]["params"] for optimizer in self.optimizers]
        params = [p for group in self.groups for p in group]
        fast = FastRMSprop if config.optimizer == "rmsprop" else FastAdam
        self.optimizers = [fast(params, lr=config.learning_rate)]
        self.params = params

    def optimize(self, loss):
        grads = list(torch.autograd.grad(loss, self.params))
        first = 0
        for group in self.groups:
            clip_grad_norm(grads[first:first + len(group)], self.config.max_grad_norm)
            first += len(group)
        self.optimizers[0].step(grads)
