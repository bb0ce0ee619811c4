package io.engram.kernels;

/**
 * A kernel call needed more scratch than its arena holds, under {@link OverflowStrategy#FAIL_TASK}. An Error, so
 * that no {@code catch (Exception e)} on a record path can swallow it: the task fails.
 */
public final class ArenaOverflowError extends Error {
    public ArenaOverflowError(String kernel, long neededBytes, long capacityBytes) {
        super(ArenaOverflowException.message(kernel, neededBytes, capacityBytes));
    }
}
