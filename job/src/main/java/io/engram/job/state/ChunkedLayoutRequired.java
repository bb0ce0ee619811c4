package io.engram.job.state;

import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSchemaCompatibility;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * The serializer snapshot of the legacy {@code space} state in savepoints of the chunked layout (state layout 2): a
 * class that engram-flink builds of layout 1 do not have, so such a build refuses the savepoint at restore rather
 * than silently restoring every space empty (the chunk states' own serializer classes are missing there too; see
 * docs/internal/zig_architecture.md, "State layout").
 */
public final class ChunkedLayoutRequired implements TypeSerializerSnapshot<SpaceState> {
    @Override
    public int getCurrentVersion() {
        return 1;
    }

    @Override
    public void writeSnapshot(DataOutputView out) {
    }

    @Override
    public void readSnapshot(int readVersion, DataInputView in, ClassLoader userCodeClassLoader) {
    }

    @Override
    public TypeSerializer<SpaceState> restoreSerializer() {
        return SpaceStateSerializer.INSTANCE;
    }

    @Override
    public TypeSerializerSchemaCompatibility<SpaceState> resolveSchemaCompatibility(
            TypeSerializerSnapshot<SpaceState> oldSerializerSnapshot) {
        if (oldSerializerSnapshot instanceof ChunkedLayoutRequired
                || oldSerializerSnapshot instanceof SpaceStateSerializer.Snapshot) {
            return TypeSerializerSchemaCompatibility.compatibleAsIs();
        }
        return TypeSerializerSchemaCompatibility.incompatible();
    }
}
