/* One MPI_Allreduce (sum, in place) through a function pointer and handles
 * that mpi4py gave at run time (fastnn/distributed.py, allreduce_hook), so
 * that fastnn builds without MPI headers and runs without MPI.
 *
 * MPI's handles (MPI_Comm, MPI_Datatype, MPI_Op) are pointers in Open MPI
 * and ints in MPICH and its derivatives: handle_size (8 or 4) picks the C
 * signature to call through. */
#ifndef FASTNN_ALLREDUCE_H
#define FASTNN_ALLREDUCE_H

#include <stdint.h>

typedef int (*fastnn_allreduce_pointer_handles)(const void*, void*, int, void*, void*, void*);
typedef int (*fastnn_allreduce_int_handles)(const void*, void*, int, int, int, int);

static int fastnn_allreduce_sum(void* fn, int handle_size, intptr_t in_place,
                                intptr_t datatype, intptr_t op, intptr_t comm,
                                void* buffer, int count) {
    if (handle_size == 4)
        return ((fastnn_allreduce_int_handles)fn)((const void*)in_place, buffer, count,
                                                  (int)datatype, (int)op, (int)comm);
    return ((fastnn_allreduce_pointer_handles)fn)((const void*)in_place, buffer, count,
                                                  (void*)datatype, (void*)op, (void*)comm);
}

#endif
